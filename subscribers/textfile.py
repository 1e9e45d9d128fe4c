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
"""

from __future__ import annotations

import codecs
import dataclasses

from subscribers.errors import StoreError

SNIFF_BYTES = 8192
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
class DecodedText:
    text: str
    encoding: str  # the codec's name, as Python spells it
    guessed: bool  # chosen by the detector rather than by a mark, UTF-8 itself or the operator


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


def decode(raw: bytes, encoding: str | None = None) -> DecodedText:
    """The text of an upload. Bytes a UTF-8 file cannot decode are kept as lone surrogates
    (``surrogateescape``), so the importer can name them in the rows they are in."""
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise NotText(
                f"{encoding!r} is not an encoding Python knows (try utf-8, cp1252, latin-1)"
            ) from None
        return DecodedText(raw.decode(name, errors="replace"), name, guessed=False)
    for mark, name in BOMS:
        if raw.startswith(mark):
            return DecodedText(raw[len(mark) :].decode(name, errors="replace"), name, guessed=False)
    head = raw[:SNIFF_BYTES]
    utf16 = _utf16_without_mark(head)
    if utf16 is not None:
        return DecodedText(raw.decode(utf16, errors="replace"), utf16, guessed=True)
    kind = _binary_kind(head)
    if kind is not None:
        raise NotText(f"this is {kind}, not CSV text; {HINT}")
    try:
        return DecodedText(raw.decode("utf-8"), "utf-8", guessed=False)
    except UnicodeDecodeError:
        pass
    text = raw.decode("utf-8", errors="surrogateescape")
    stray = sum(1 for ch in text if 0xDC80 <= ord(ch) <= 0xDCFF)
    if sum(1 for ch in text if ord(ch) > 0x7F) - stray >= stray:
        # More real UTF-8 letters than bytes that are not: UTF-8 with a few broken bytes. (Text in
        # another encoding only forms a valid UTF-8 sequence here and there, by chance.)
        return DecodedText(text, "utf-8", guessed=False)
    name, guessed = _detect(raw)
    return DecodedText(raw.decode(name, errors="replace"), name, guessed)


def bad_character(cell: str) -> str | None:
    """Why a cell cannot be trusted (a control character, a byte that was not text), or None."""
    for ch in cell:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            return f"byte 0x{code - 0xDC00:02X} is not UTF-8 text"
        if code == 0xFFFD:
            return "it holds bytes that are not text in the file's encoding"
        if (code < 0x20 and ch not in "\t\r\n") or code == 0x7F:
            label = "NUL" if code == 0 else f"U+{code:04X}"
            return f"it holds a control character ({label})"
    return None
