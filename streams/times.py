"""Times in wirewatch: UTC datetimes, article times, and the ISO 8601 strings of JSON states and queries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dateutil import parser as date_parser

from streams.records import CleanArticle

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # fixed width: comparing the strings compares the times
# Zone abbreviations US wires still print; dateutil leaves unknown ones naive (and so wrongly UTC).
_TZINFOS = {name: timezone(timedelta(hours=h)) for name, h in (
    ("UTC", 0), ("GMT", 0), ("EST", -5), ("EDT", -4), ("CST", -6), ("CDT", -5), ("MST", -7), ("MDT", -6),
    ("PST", -8), ("PDT", -7), ("BST", 1), ("CET", 1), ("CEST", 2), ("JST", 9), ("KST", 9))}


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already (the clean stage emits UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def article_time(article: CleanArticle) -> datetime:
    """When the article appeared (UTC): its publish time if known, else when it was ingested."""
    if article.published is not None:
        return as_utc(article.published)
    return datetime.fromtimestamp(article.ingested_at, tz=timezone.utc)


def format_time(moment: datetime) -> str:
    """`moment` as ISO 8601 UTC to the second, e.g. 2019-06-30T07:03:00Z (a naive time is taken as UTC)."""
    return as_utc(moment).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time or date (`Z` or an offset; none means UTC); `ValueError` with a readable message if not."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time; give e.g. 2019-06-30T07:00:00Z or 2019-06-30") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def parse_published(value: str | None) -> datetime | None:
    """`value` (any common date format) as a UTC datetime; naive times are taken as UTC; None if unparseable."""
    if not value or not value.strip():
        return None
    try:
        parsed = date_parser.parse(value.strip(), tzinfos=_TZINFOS)
    except (ValueError, OverflowError, TypeError):  # dateutil's ParserError is a ValueError
        return None
    return as_utc(parsed)
