"""SMTP replies read from a byte stream however it is cut, and garbage refused rather than guessed at."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery.transports.smtp_wire import (
    MAX_REPLY_BYTES,
    ProtocolError,
    Reply,
    ReplyParser,
    envelope,
    usable,
)

STREAM = (
    b"250-mail.example.net\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
    b"250 2.1.0 Ok\r\n"
    b"550 5.1.1 <gone@example.net>:   no such\tuser\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\n"  # a bare LF, as some servers send
    b"250 2.0.0 Ok: queued as 4F2a\r\n"
)
EXPECTED = [
    (250, "mail.example.net PIPELINING SMTPUTF8"),
    (250, "2.1.0 Ok"),
    (550, "5.1.1 <gone@example.net>: no such user"),
    (354, "End data with <CR><LF>.<CR><LF>"),
    (250, "2.0.0 Ok: queued as 4F2a"),
]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_replies_come_out_whole_and_in_order_wherever_the_stream_is_cut(cuts: list[int]) -> None:
    parser = ReplyParser()
    points = [0, *sorted(cuts), len(STREAM)]
    replies = [r for a, b in itertools.pairwise(points) for r in parser.feed(STREAM[a:b])]
    assert [(r.code, r.text) for r in replies] == EXPECTED


def test_a_code_alone_on_its_line_is_a_reply() -> None:
    assert ReplyParser().feed(b"250\r\n") == [Reply(250, b"")]
    assert str(Reply(250, b"")) == "250"
    assert str(Reply(451, b"4.7.1  try\tlater \xff")) == "451 4.7.1 try later \ufffd"


@pytest.mark.parametrize(
    "garbage",
    [b"hello there\r\n", b"25 short\r\n", b"250_ok\r\n", b"\r\n", b"2x0 Ok\r\n", b"\x00\xff\xfe\r\n"],
)
def test_anything_that_is_not_a_reply_is_a_protocol_error(garbage: bytes) -> None:
    with pytest.raises(ProtocolError):
        ReplyParser().feed(garbage)


def test_a_server_that_never_ends_its_line_or_its_reply_is_cut_off() -> None:
    parser = ReplyParser()
    with pytest.raises(ProtocolError, match="longer than"):
        for _ in range(MAX_REPLY_BYTES // 1000 + 2):
            parser.feed(b"250 " + b"x" * 1000)
    with pytest.raises(ProtocolError, match="more than 1000 lines"):
        ReplyParser().feed(b"250-more\r\n" * 1001)


LINE = re.compile(rb"[0-9]{3}([ -].*)?", re.DOTALL)


@given(
    st.lists(st.sampled_from([b"250", b"-", b" ", b"ok", b"\r\n", b"\n", b"x", b"\xff", b"55"]), max_size=40)
)
def test_random_bytes_give_exactly_the_replies_they_hold_or_a_protocol_error(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    lines = [line.rstrip(b"\r") for line in data.split(b"\n")[:-1]]  # complete lines only
    if all(LINE.fullmatch(line) for line in lines):
        replies = ReplyParser().feed(data)
        assert [r.code for r in replies] == [int(line[:3]) for line in lines if line[3:4] != b"-"]
        assert all(len(r.text) <= 500 for r in replies)
    else:
        with pytest.raises(ProtocolError):
            ReplyParser().feed(data)


def test_one_transaction_is_three_commands_and_addresses_that_would_change_them_are_refused() -> None:
    assert envelope("b+e1-s2-ab@example.org", "r@example.net", smtputf8=False) == (
        b"MAIL FROM:<b+e1-s2-ab@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
    )
    assert envelope("b@example.org", "lé@example.net", smtputf8=True).startswith(
        b"MAIL FROM:<b@example.org> SMTPUTF8\r\n"
    )
    for bad in ("", "a b@example.net", "a@example.net>\r\nRCPT TO:<x@y", "<a@b>", "a\n@b"):
        assert not usable(bad)
    assert usable("reader.1+tag@example.net")
