"""Personalised messages: standards-conforming bytes, every header a receiver needs, nothing injectable."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate, compile_body
from newsletter.delivery.prepare import message_template, unsaved_edition
from newsletter.delivery.send_loop import outbound_message
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.edition.slots import slot_marker
from subscribers.store import Recipient
from tests.conftest import TEST_SECRET

SETTINGS = Settings(
    secret_key=TEST_SECRET,
    from_address="Burma Partnership <news@example.org>",
    postal_address="PO Box 1, Chiang Mai",
    base_url="https://news.example.org",
)


@pytest.fixture(scope="module")
def template(sample_digest: Digest) -> MessageTemplate:
    rendered = Renderer(SETTINGS.templates_dir).render_edition(sample_digest, SETTINGS)
    edition = unsaved_edition(rendered, "2011-07-11-weekly-highlights", 3)
    return message_template(
        edition, sample_digest.newsletter, SETTINGS, date="Mon, 11 Jul 2011 07:00:00 +0000"
    )


def outbound(
    subscriber_id: int = 17, name: str = "Ann Lee", address: str = "ann@example.org"
) -> OutboundMessage:
    recipient = Recipient(subscriber_id, address, name)
    return outbound_message(Links(SETTINGS), "example.org", "2011-07-11-weekly-highlights", 3, recipient)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def raw_header(raw: bytes, name: str) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    match = re.search(rf"^{name}: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.MULTILINE)
    assert match, f"no {name} header"
    return match.group(1)


def test_every_header_a_receiver_needs_is_present_and_parses(template: MessageTemplate) -> None:
    raw = template.build(outbound())
    message = parse(raw)
    assert message["From"] == "Burma Partnership <news@example.org>"
    assert message["To"] == "Ann Lee <ann@example.org>"
    assert (
        message["Subject"] == "4-10 July: Defections Show Deep Dissatisfaction Within Burma’s Military Regime"
    )
    assert message["Date"] == "Mon, 11 Jul 2011 07:00:00 +0000"
    assert message["Message-ID"] == "<2011-07-11-weekly-highlights.e3.s17@example.org>"
    assert message["List-Id"] == "Burma Partnership <newsletter.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert not message.defects and all(not p.defects for p in message.iter_parts())


def test_list_unsubscribe_is_one_raw_line_with_https_and_mailto(template: MessageTemplate) -> None:
    raw = template.build(outbound())
    value = raw_header(raw, "List-Unsubscribe")
    assert "\r\n" not in value and "=?" not in value
    https, mailto = re.fullmatch(r"<(https://[^>]+)>, <(mailto:[^>]+)>", value).groups()  # type: ignore[union-attr]
    token = https.rsplit("/", 1)[1]
    assert (
        Links(SETTINGS).signer.verify(__import__("subscribers.tokens").tokens.Purpose.unsubscribe, token)
        == 17
    )
    assert mailto == f"mailto:unsubscribe@example.org?subject=unsubscribe%20{token}"


def test_the_same_unsubscribe_link_is_in_both_bodies(template: MessageTemplate) -> None:
    raw = template.build(outbound())
    message = parse(raw)
    url = raw_header(raw, "List-Unsubscribe").split(">")[0][1:]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert url in text.splitlines()
    assert f'href="{url}"' in html
    assert "Hello Ann Lee," in text and "__nl_slot" not in text + html


def test_the_wire_format_keeps_the_line_limits(template: MessageTemplate) -> None:
    raw = template.build(outbound(name="Ünïcödé " * 12))
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable's own limit
    assert raw.isascii()


def test_a_name_cannot_inject_headers_or_markup(template: MessageTemplate) -> None:
    hostile = "Eve\r\nBcc: everyone@example.org\r\n\r\n<script>alert(1)</script>"
    raw = template.build(outbound(name=hostile))
    message = parse(raw)
    assert message["Bcc"] is None
    assert message["To"].addresses[0].addr_spec == "ann@example.org"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_non_ascii_names_are_encoded_words(template: MessageTemplate) -> None:
    raw = template.build(outbound(name="Daw Aung San Suu Kyi’s ဗမာ friend"))
    assert "=?utf-8?" in raw_header(raw, "To")
    assert parse(raw)["To"].addresses[0].display_name == "Daw Aung San Suu Kyi’s ဗမာ friend"


def test_an_empty_name_gets_a_greeting_fallback(template: MessageTemplate) -> None:
    message = parse(template.build(outbound(name="")))
    assert message["To"] == "ann@example.org"
    assert "Hello reader," in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_an_internationalised_address_goes_out_as_utf8(template: MessageTemplate) -> None:
    raw = template.build(outbound(name="Léa Ünïcode", address="léa@exämple.net"))
    assert raw_header(raw, "To").endswith(" <léa@exämple.net>")
    to = email.message_from_string(raw.decode("utf-8"), policy=email.policy.SMTPUTF8)["To"]
    assert (to.addresses[0].addr_spec, to.addresses[0].display_name) == ("léa@exämple.net", "Léa Ünïcode")


def test_the_message_id_is_deterministic_per_edition_and_subscriber(template: MessageTemplate) -> None:
    assert template.build(outbound(17)) == template.build(outbound(17))
    assert (
        parse(template.build(outbound(18)))["Message-ID"] != parse(template.build(outbound(17)))["Message-ID"]
    )


def test_slots_that_fall_at_quoted_printable_edges_decode_exactly() -> None:
    marker = slot_marker("name")
    body = "x" * 74 + marker + " " + "y" * 80 + "\n" + marker + "\n" + marker + marker + " trailing \n"
    built = MessageTemplate(
        subject="s",
        text=body,
        html_body="<p>" + marker + "</p>",
        from_header="a@b.org",
        list_id_header="L <l.b.org>",
        feedback_id="f",
        date="d",
    )
    raw = built.build(outbound(name="Zoë = Ünïcode  "))
    text = parse(raw).get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    name = "Zoë = Ünïcode  "
    assert text == ("x" * 74 + name + " " + "y" * 80 + "\n" + name + "\n" + name + name + " trailing \n")


def test_compiled_bodies_have_slots_between_encoded_literals() -> None:
    segments = compile_body("a " + slot_marker("unsubscribe_url") + " b")
    assert segments == (b"a=20=\r\n", "unsubscribe_url", b" b")


def dot_stuffed_reference(raw: bytes) -> bytes:
    """RFC 5321 4.5.2 done the obvious way, line by line over the whole message."""
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines[:-1]) + b"\r\n.\r\n"


DOTTY = st.text(alphabet=st.sampled_from([".", "\n", "a", " ", "é", "=", "<", "&", "\r"]), max_size=120)


@given(name=DOTTY, text=DOTTY, html_body=DOTTY, url_tail=st.text(alphabet=".a/", max_size=90))
def test_smtp_data_is_the_message_dot_stuffed_whatever_starts_a_line(
    name: str, text: str, html_body: str, url_tail: str
) -> None:
    template = MessageTemplate(
        subject="Weekly",
        text=f".{text}\n.Hello {slot_marker('name')}\n.{slot_marker('unsubscribe_url')}\n..{text}",
        html_body=f".<p>{slot_marker('name')}</p>\n.{html_body}{slot_marker('unsubscribe_url')}",
        from_header="News <news@example.org>",
        list_id_header="News <news.example.org>",
        feedback_id="e1:news:newsletter:example.org",
        date="Mon, 11 Jul 2011 07:00:00 +0000",
    )
    message = dataclasses.replace(
        outbound(), name=name, unsubscribe_url="https://news.example.org/u/." + url_tail
    )
    raw = template.build(message)
    assert template.build_data(message) == dot_stuffed_reference(raw)
    signed = template.build_data(message, lambda raw: b"DKIM-Signature: v=1;\r\n\t.b=x\r\n")
    assert signed == dot_stuffed_reference(b"DKIM-Signature: v=1;\r\n\t.b=x\r\n" + raw)
