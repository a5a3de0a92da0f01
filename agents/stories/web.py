"""`GET /stories/{id}` and `GET /stories?since=` on every stories worker, answered for the whole table.

The table is split over the workers by partition (the tagged topic's, keyed by story id). A worker answers what
its own partitions hold and asks the owner of each other partition over HTTP, using Faust's record of who owns
which partition (the group's last assignment): `/stories/{id}` goes to the one owner of the story's partition,
`/stories?since=` is merged from every owner, each answering for exactly the partitions it was asked about. While
partitions move (a rebalance, a worker that died, table recovery) the answer is a 503 to retry, never a partial list.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast

import aiohttp
import faust
import orjson
from faust.types import TableT
from faust.web import Request, Response, View
from yarl import URL

from agents.stories.core import newest_first, stories_since
from streams.times import parse_time
from streams.topics import key_partition

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PEER_TIMEOUT = 5.0
# Set on requests between workers: a routed request is answered where it lands or refused, never routed on, so
# two workers that disagree about an owner mid-rebalance cannot pass a request back and forth.
ROUTED_HEADER = "X-Wirewatch-Routed"
WORKERS_HEADER = "X-Wirewatch-Workers"  # on a listing: how many workers' partitions it merges


class Unavailable(Exception):
    """The answer needs a partition whose owner is unknown, unready or unreachable: 503, retry shortly."""


class BadRequest(ValueError):
    """A query parameter that cannot be used: 400 with the message."""


class Placement:
    """Which worker owns each partition of a table, from the consumer group's last assignment."""

    def __init__(self, app: faust.App, table: TableT, partitions: int) -> None:
        self.app, self.table, self.partitions = app, table, partitions

    @property
    def own_url(self) -> str:
        return str(self.app.conf.canonical_url)

    def owners(self) -> dict[int, str]:
        """Partition → URL of the worker that has it active."""
        topic = self.table.changelog_topic.get_topic_name()
        return {partition: url
                for url, topics in self.app.router.table_metadata(self.table.name).items()
                for partition in topics.get(topic, ())}

    def check_local(self, partitions: set[int]) -> None:
        """`Unavailable` unless this worker owns every one of `partitions` and its table is recovered."""
        if self.app.rebalancing or self.app.in_recovery:
            raise Unavailable("the stories table is being rebalanced or recovered; retry shortly")
        owners = self.owners()
        foreign = sorted(p for p in partitions if owners.get(p) != self.own_url)
        if foreign:
            raise Unavailable(f"partitions {foreign} are not on this worker (rebalancing); retry shortly")

    def owner(self, partition: int) -> str:
        owner = self.owners().get(partition)
        if owner is None:
            raise Unavailable(f"partition {partition} has no worker yet (rebalancing); retry shortly")
        return owner


class StoryViews:
    """The answers of `GET /stories/{id}` and `GET /stories?since=`, each from the workers that own the partitions."""

    def __init__(self, app: faust.App, table: TableT, partitions: int) -> None:
        self.app, self.table, self.partitions = app, table, partitions
        self.placement = Placement(app, table, partitions)

    async def story(self, view: View, request: Request, story_id: str) -> Response:
        """One story's state, from whichever worker owns its partition: 200, or 404 when no article named it."""
        try:
            partition = key_partition(story_id, self.partitions)
            owner = self.placement.owner(partition)
            if owner != self.placement.own_url:
                if request.headers.get(ROUTED_HEADER):
                    raise Unavailable(f"partition {partition} is not on this worker (rebalancing); retry shortly")
                status, body = await self._ask_peer(owner, _raw_path(request))
                return view.bytes(body, content_type="application/json", status=status)
            self.placement.check_local({partition})
        except Unavailable as error:
            return _json(view, {"error": str(error)}, status=503, headers={"Retry-After": "1"})
        state = self.table.get(story_id)
        if state is None:
            return _json(view, {"error": f"no story {story_id!r}", "story_id": story_id}, status=404)
        return _json(view, state)

    async def listing(self, view: View, request: Request) -> Response:
        """Summaries of the stories updated at or after `since`, newest first, from every partition."""
        try:
            since = _since(request.query.get("since"))
            limit = _limit(request.query.get("limit"))
            wanted = _partitions(request.query.get("partitions"), self.partitions)
            if wanted is not None:  # a peer asks for the partitions it believes this worker owns
                self.placement.check_local(wanted)
                return _json(view, self._local(wanted, since, limit))
            listing, workers = await self._everywhere(request, since, limit)
            return _json(view, listing, headers={WORKERS_HEADER: str(workers)})
        except BadRequest as error:
            return _json(view, {"error": str(error)}, status=400)
        except Unavailable as error:
            return _json(view, {"error": str(error)}, status=503, headers={"Retry-After": "1"})

    async def _everywhere(self, request: Request, since: datetime, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The merged listing of every partition, and how many workers it came from."""
        owners = self.placement.owners()
        unowned = [p for p in range(self.partitions) if p not in owners]
        if unowned:
            raise Unavailable(f"partitions {unowned} have no worker yet (rebalancing); retry shortly")
        by_owner: dict[str, set[int]] = {}
        for partition, url in owners.items():
            by_owner.setdefault(url, set()).add(partition)
        local = by_owner.pop(self.placement.own_url, set())
        if local:
            self.placement.check_local(local)
        listings = ([self._local(local, since, limit)] if local else []) + await asyncio.gather(*[
            self._remote(url, owned, request) for url, owned in by_owner.items()])
        merged = newest_first((story for listing in listings for story in listing), limit)
        return merged, len(by_owner) + bool(local)

    async def _remote(self, url: str, owned: set[int], request: Request) -> list[dict[str, Any]]:
        query = request.rel_url.query.copy()
        query["partitions"] = ",".join(map(str, sorted(owned)))
        status, body = await self._ask_peer(url, str(URL.build(path="/stories", query=query)))
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        if status != 200 or not isinstance(answer, list):
            detail = answer.get("error", "") if isinstance(answer, dict) else ""
            raise Unavailable(f"worker {url} answered {status} for partitions {sorted(owned)}: {detail}")
        return answer

    def _local(self, owned: set[int], since: datetime, limit: int) -> list[dict[str, Any]]:
        return stories_since(self.table, since, limit,
                             where=lambda story_id: key_partition(story_id, self.partitions) in owned)

    async def _ask_peer(self, url: str, path_qs: str) -> tuple[int, bytes]:
        """Status and body of a GET on another worker; `Unavailable` if it cannot answer."""
        target = URL(url.rstrip("/") + path_qs, encoded=True)
        try:
            async with self.app.http_client.get(target, headers={ROUTED_HEADER: "1"},
                                                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT)) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError) as error:
            raise Unavailable(f"worker {url} did not answer: {type(error).__name__} {error}".strip()) from None


def install_story_views(app: faust.App, table: TableT, partitions: int) -> None:
    """Register `GET /stories/{id}` and `GET /stories?since=&limit=` on `app`'s web server."""
    views = StoryViews(app, table, partitions)

    @app.page("/stories/{story_id:.+}")
    class Story(View):
        async def get(self, request: Request, story_id: str) -> Response:
            return await views.story(self, request, story_id)

    @app.page("/stories")
    class Stories(View):
        async def get(self, request: Request) -> Response:
            return await views.listing(self, request)


def _raw_path(request: Request) -> str:
    """The request's path and query as sent (still percent-encoded): faust's aiohttp driver hands views aiohttp's
    request, whose `raw_path` faust's own type does not declare."""
    return cast(aiohttp.web.Request, request).raw_path


def _json(view: View, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return view.bytes(orjson.dumps(value), content_type="application/json", status=status, headers=headers)


def _since(text: str | None) -> datetime:
    if not text:
        raise BadRequest("`since` is required: an ISO 8601 time such as 2019-06-30T07:00:00Z")
    try:
        return parse_time(text)
    except ValueError as error:
        raise BadRequest(f"`since`: {error}") from None


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"`limit` must be a whole number from 1 to {MAX_LIMIT}, not {text!r}")
    return int(text)


def _partitions(text: str | None, partitions: int) -> set[int] | None:
    if text is None:
        return None
    parts = text.split(",")
    if not all(p.isdigit() and int(p) < partitions for p in parts):
        raise BadRequest(f"`partitions` must be partition numbers below {partitions}, comma-separated")
    return {int(p) for p in parts}
