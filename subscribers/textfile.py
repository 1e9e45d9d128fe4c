"""Reading an uploaded list as text: refuse what is not text at all, find the encoding of what is.

Only a file that is not text is refused whole: a spreadsheet, an archive, an image or a PDF, named
by its signature, with the hint to export it as CSV; and bytes with many control characters. A
text file with a few bad bytes (a NUL, a byte that is not UTF-8) is read, and the rows holding them
are reported one by one (the importer asks ``bad_character`` of every cell). The encoding comes from
the byte-order mark (UTF-8, UTF-16, UTF-32), from the pattern of zero bytes that UTF-16 without a
mark leaves, from UTF-8 itself, and else from charset-normalizer. Single-byte encodings all decode
every byte, so the detector's favourite among them is a guess: Windows-1252 (what Excel writes on
Western systems, a superset of Latin-1) is taken when it is among the candidates; any other guess
is refused with its name, and the operator can say what the file is (``--encoding``).

A file is never read into memory whole: ``detect`` looks at its first bytes, and reads it once block by
block to tell UTF-8 (a stray byte near the end counts as much as one at the top); ``open_text`` then
decodes it as the importer reads it. Memory is one block, whatever the size of the file.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import re
from typing import BinaryIO

from subscribers.errors import StoreError

SNIFF_BYTES = 8192
BLOCK_BYTES = 1 << 20
DETECT_BYTES = 1 << 20  # at most this much of a file that is not UTF-8 is shown to charset-normalizer
HIGH_BYTE = re.compile(rb"[\x80-\xff]")
STRAY = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8
# Control characters other than tab, CR and LF; U+FFFD (a byte the codec could not read); stray bytes.
UNTRUSTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\udc80-\udcff]")
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel or LibreOffice workbook, or a ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its mark starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
PREFERRED_SINGLE_BYTE = "cp1252"
CONTROL_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D}
HINT = "export it as CSV (in Excel or LibreOffice: File, Save As, CSV UTF-8) and import that file"


class NotText(StoreError):
    """The file cannot be read as text (the importer turns this into ImportRefused with the path)."""


@dataclasses.dataclass(frozen=True)
class Encoding:
    """How to read an upload: the codec, whether it was guessed, the mark to skip, what bad bytes become."""

    name: str  # the codec's name, as Python spells it
    guessed: bool  # chosen by the detector rather than by a mark, UTF-8 itself or the operator
    skip: int = 0  # length of the byte-order mark
    errors: str = "replace"  # surrogateescape for UTF-8, so the importer can name the stray bytes


def _binary_kind(head: bytes) -> str | None:
    for signature, kind in BINARY_SIGNATURES:
        if head.startswith(signature):
            return kind
    if head and sum(byte in CONTROL_BYTES for byte in head) > len(head) // 10:
        return "a binary file"
    return None


def _utf16_without_mark(head: bytes) -> str | None:
    """UTF-16 text that is mostly ASCII has a zero in every other byte: on the odd side for LE."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even_zeros = sum(1 for i in range(0, pairs * 2, 2) if head[i] == 0)
    odd_zeros = sum(1 for i in range(1, pairs * 2, 2) if head[i] == 0)
    if odd_zeros > pairs * 0.6 and even_zeros < pairs * 0.05:
        return "utf-16-le"
    if even_zeros > pairs * 0.6 and odd_zeros < pairs * 0.05:
        return "utf-16-be"
    return None


def _detect(raw: bytes) -> tuple[str, bool]:
    """The encoding of text that is not UTF-8; NotText naming the guess when it cannot be trusted."""
    from charset_normalizer import from_bytes

    candidates = [match.encoding for match in from_bytes(raw)]
    if not candidates:
        raise NotText(f"this is not UTF-8 text, nor text in an encoding that could be recognised; {HINT}")
    if PREFERRED_SINGLE_BYTE in candidates:
        return PREFERRED_SINGLE_BYTE, True
    best = codecs.lookup(candidates[0]).name
    if best.startswith("utf"):
        return best, True
    raise NotText(
        f"this is not UTF-8 text; it looks like {best} (Python's name), but that is a guess: "
        f"save the file as UTF-8, or name its encoding (--encoding {best})"
    )


def _sample_lines(block: bytes, sample: bytearray) -> None:
    """Add to ``sample`` the lines of ``block`` that hold a byte beyond ASCII, up to DETECT_BYTES."""
    taken = 0
    for found in HIGH_BYTE.finditer(block):
        if len(sample) >= DETECT_BYTES:
            return
        if found.start() < taken:
            continue
        start = block.rfind(b"\n", 0, found.start()) + 1
        end = block.find(b"\n", found.start())
        taken = len(block) if end < 0 else end + 1
        sample += block[start:taken]


def _scan(stream: BinaryIO) -> tuple[bool, bytes]:
    """Whether the whole stream is UTF-8 (perhaps with a few broken bytes); else what to show the detector.

    Read in blocks from the start, so a bad byte near the end counts as much as one at the top and
    memory stays one block whatever the file's size. The detector is shown the lines that hold bytes
    beyond ASCII, wherever they are (a list whose first megabyte is plain ASCII has its evidence later).
    """
    stream.seek(0)
    strict = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := stream.read(BLOCK_BYTES):
            strict.decode(block)
        strict.decode(b"", final=True)
        return True, b""
    except UnicodeDecodeError:
        pass
    stream.seek(0)
    lenient = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    stray = letters = 0
    sample = bytearray()
    final = False
    while not final:
        block = stream.read(BLOCK_BYTES)
        final = not block
        text = lenient.decode(block, final=final)
        beyond_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
        strays = len(STRAY.findall(text))
        stray += strays
        letters += beyond_ascii - strays
        _sample_lines(block, sample)
    # More real UTF-8 letters than bytes that are not: UTF-8 with a few broken bytes. (Text in another
    # encoding only forms a valid UTF-8 sequence here and there, by chance.)
    return letters >= stray, bytes(sample)


def detect(stream: BinaryIO, encoding: str | None = None) -> Encoding:
    """How to read an upload (``open_text`` reads it); NotText when it is not text at all."""
    if encoding is not None:
        try:
            return Encoding(codecs.lookup(encoding).name, guessed=False)
        except LookupError:
            raise NotText(
                f"{encoding!r} is not an encoding Python knows (try utf-8, cp1252, latin-1)"
            ) from None
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    for mark, name in BOMS:
        if head.startswith(mark):
            return Encoding(name, guessed=False, skip=len(mark))
    utf16 = _utf16_without_mark(head)
    if utf16 is not None:
        return Encoding(utf16, guessed=True)
    kind = _binary_kind(head)
    if kind is not None:
        raise NotText(f"this is {kind}, not CSV text; {HINT}")
    utf8, sample = _scan(stream)
    if utf8:
        return Encoding("utf-8", guessed=False, errors="surrogateescape")
    name, guessed = _detect(sample)
    return Encoding(name, guessed)


def open_text(stream: BinaryIO, encoding: Encoding) -> io.TextIOWrapper:
    """The upload as text, decoded as it is read (newlines untranslated, as the csv module wants)."""
    stream.seek(encoding.skip)
    return io.TextIOWrapper(stream, encoding=encoding.name, errors=encoding.errors, newline="")


def bad_character(cell: str) -> str | None:
    """Why a cell cannot be trusted (a control character, a byte that was not text), or None.

    Cells may be joined with a newline (allowed) to ask once per row: the reason is the first cell's.
    """
    found = UNTRUSTED.search(cell)
    if found is None:
        return None
    code = ord(found.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02X} is not UTF-8 text"
    if code == 0xFFFD:
        return "it holds bytes that are not text in the file's encoding"
    label = "NUL" if code == 0 else f"U+{code:04X}"
    return f"it holds a control character ({label})"
