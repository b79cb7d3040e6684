"""Atom 1.0 documents (RFC 4287) and the conditional requests that spare a
feed reader the document it already has (RFC 9110's ETag, Last-Modified and
304)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from webapp.rules.feeds import Entry

MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# A feed with no entries yet changed last at no particular time: this one.
NEVER = datetime(2026, 1, 1, tzinfo=UTC)
# What XML 1.0 cannot hold at all, even escaped: stripped, not refused, since a
# reader would reject the whole feed for it.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Feed:
    """One feed's document, with what a conditional request compares."""

    body: bytes
    etag: str
    last_modified: datetime

    def headers(self) -> dict[str, str]:
        last_modified = format_datetime(self.last_modified, usegmt=True)
        return {"ETag": self.etag, "Last-Modified": last_modified}

    def unchanged_for(self, request_headers: Mapping[str, str]) -> bool:
        """Whether the reader's copy is this one: its `If-None-Match` holds this
        ETag, or, when it sends none, `If-Modified-Since` is no earlier than
        the last change."""
        if_none_match = request_headers.get("if-none-match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or self.etag in tags
        since = _http_date(request_headers.get("if-modified-since"))
        return since is not None and self.last_modified <= since


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# The XML escapes are imported where a feed is written: the xml package is
# most of a megabyte that a worker serving only pages never needs.


def _text(value: str) -> str:
    from xml.sax.saxutils import escape

    return escape(_NOT_XML.sub("", value))


def _attr(value: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(_NOT_XML.sub("", value))


def _time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build(
    *, title: str, feed_url: str, page_url: str, site_url: str, entries: Sequence[Entry]
) -> Feed:
    """The feed of `entries`, newest first. An entry's id is its post's address
    on the site, which an edit, a like or a new title never changes."""
    changed = max((max(e.updated, e.published) for e in entries), default=NEVER)
    changed = changed.astimezone(UTC).replace(microsecond=0)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"  <id>{_text(feed_url)}</id>\n",
        f"  <title>{_text(title)}</title>\n",
        f'  <link rel="self" type="application/atom+xml" href={_attr(feed_url)}/>\n',
        f'  <link rel="alternate" type="text/html" href={_attr(page_url)}/>\n',
        f"  <updated>{_time(changed)}</updated>\n",
        "  <generator>Agora</generator>\n",
    ]
    for entry in entries:
        post_url = f"{site_url}/posts/{entry.post_id}"
        author_url = f"{site_url}/users/{entry.author_id}"
        parts += [
            "  <entry>\n",
            f"    <id>{_text(post_url)}</id>\n",
            f'    <title type="text">{_text(entry.title)}</title>\n',
            f'    <link rel="alternate" type="text/html" href={_attr(post_url)}/>\n',
            f"    <author><name>{_text(entry.author)}</name>",
            f"<uri>{_text(author_url)}</uri></author>\n",
            f"    <published>{_time(entry.published)}</published>\n",
            f"    <updated>{_time(entry.updated)}</updated>\n",
            f'    <content type="html" xml:base={_attr(site_url + "/")}>',
            f"{_text(entry.html)}</content>\n",
            "  </entry>\n",
        ]
    parts.append("</feed>\n")
    body = "".join(parts).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Feed(body, etag, changed)
