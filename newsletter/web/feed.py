"""The archive's Atom feed (RFC 4287), written with the standard library's XML serialiser.

One entry per archived edition: its stable URL as id and link, the subject as title, the preheader as
summary, and the time it became public as updated. Everything is escaped by the serialiser.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str
    summary: str
    updated: dt.datetime


def _stamp(value: dt.datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(
    *, title: str, archive_url: str, feed_url: str, entries: list[FeedEntry], empty_time: dt.datetime
) -> bytes:
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", archive_url)
    sub(feed, "title", title)
    sub(feed, "updated", _stamp(max((e.updated for e in entries), default=empty_time)))
    sub(sub(feed, "author"), "name", title)
    sub(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    sub(feed, "link", rel="alternate", type="text/html", href=archive_url)
    for entry in entries:
        item = sub(feed, "entry")
        sub(item, "id", entry.url)
        sub(item, "title", entry.title)
        sub(item, "updated", _stamp(entry.updated))
        sub(item, "link", rel="alternate", type="text/html", href=entry.url)
        if entry.summary:
            sub(item, "summary", entry.summary)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
