"""Times in wirewatch's JSON states and queries: ISO 8601 UTC to the second, one fixed-width format."""
from __future__ import annotations

from datetime import datetime, timezone

from streams.records import CleanArticle

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # fixed width: comparing the strings compares the times


def format_time(moment: datetime) -> str:
    """`moment` as ISO 8601 UTC to the second, e.g. 2019-06-30T07:03:00Z (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time or date (`Z` or an offset; none means UTC); `ValueError` with a readable message if not."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time; give e.g. 2019-06-30T07:00:00Z or 2019-06-30") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def article_time(article: CleanArticle) -> datetime:
    """When the article appeared: its publish time if known, else when it was ingested."""
    if article.published is not None:
        return article.published
    return datetime.fromtimestamp(article.ingested_at, tz=timezone.utc)
