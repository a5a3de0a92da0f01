"""The wire's server-sent events: each story change and alert, once per client, resumable after any drop.

An event's id is the client's **vector**: per source and partition (`t0`, `a3`, …), the last offset whose change the
client has been sent, e.g. `t0=41,t1=7,a2=3`. A client that reconnects (the browser sends `Last-Event-ID`; a page's
first connection passes the vector of the listing it loaded as `?after=`) is sent every item changed past its
vector, in offset order, then live ones past it: nothing missed, nothing twice, across a restart of the worker too,
since offsets are the topics' own (see `agents.web.core`).
"""
from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.sinks.sse import CLIENT_QUEUE, Subscription
from agents.web.core import State, Vector, Wire, is_after, vector_key

log = logging.getLogger(__name__)
MAX_VECTOR_ENTRIES = 4096   # sources × partitions; more is not a vector this server wrote


class BadVector(ValueError):
    """An `after` or `Last-Event-ID` that is not a vector: 400."""


def parse_vector(text: str | None) -> Vector:
    """The vector of an event id such as `t0=41,a2=3`; empty for none."""
    if not text:
        return {}
    vector: Vector = {}
    for part in text.split(","):
        key, equals, offset = part.partition("=")
        if not (equals and key[:1] in ("t", "a") and key[1:].isdigit() and offset.isdigit()):
            raise BadVector(f"not an event id of this stream: {text[:80]!r}")
        vector[key] = int(offset)
    if len(vector) > MAX_VECTOR_ENTRIES:
        raise BadVector("event id too long")
    return vector


def format_vector(vector: Vector) -> str:
    return ",".join(f"{key}={offset}" for key, offset in sorted(vector.items()))


def frame(kind: str, payload: State, vector: Vector) -> bytes:
    """One server-sent event; JSON escapes newlines, so the data is a single `data:` line."""
    return (b"id: " + format_vector(vector).encode() + b"\nevent: " + kind.encode() + b"\ndata: "
            + orjson.dumps(payload) + b"\n\n")


class Client:
    """One connected page: its vector and its subscription (the catch-up backlog, then a bounded queue)."""

    def __init__(self, vector: Vector, subscription: Subscription) -> None:
        self.vector, self.subscription = vector, subscription

    def frame_for(self, position: list[Any], kind: str, payload: State) -> bytes | None:
        """The event for this client, advancing its vector; None when it has seen that position."""
        if not is_after(position, self.vector):
            return None
        self.vector[vector_key(position)] = int(position[2])
        return frame(kind, payload, self.vector)


class WireEvents:
    """Hands every change of the wire to each connected page, and a reconnecting one what it missed."""

    def __init__(self, wire: Wire, client_queue: int = CLIENT_QUEUE) -> None:
        self.wire, self.client_queue = wire, client_queue
        self._clients: set[Client] = set()

    def subscribe(self, after: Vector, on_drop: Any = lambda: None) -> Client:
        """A new client at `after`, its backlog the items changed since; nothing can fall between the two."""
        client = Client(dict(after), Subscription([], self.client_queue, on_drop))
        for position, kind, payload in self.wire.catch_up(after):
            made = client.frame_for(position, kind, payload)
            if made is not None:
                client.subscription.backlog.append(made)
        self._clients.add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        self._clients.discard(client)

    def publish(self, position: list[Any], kind: str, payload: State) -> None:
        """Queue a change for every client that has not seen it; a client too far behind is dropped (it
        reconnects with its last id and catches up)."""
        for client in list(self._clients):
            made = client.frame_for(position, kind, payload)
            if made is not None and not client.subscription.offer(made):
                log.warning("wire page client dropped: %d events behind", self.client_queue)
                self._clients.discard(client)
                client.subscription.end(drop=True)

    def close(self) -> None:
        """End every client's stream, so the web server stops without waiting for them."""
        for client in self._clients:
            client.subscription.end()
        self._clients.clear()
