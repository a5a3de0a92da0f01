"""Dedup's sequencer: holds each manifest until every probed partition has answered, then releases in stream order.

Manifests arrive in stream order on one partition; the partitions' answers arrive in any order, from any worker.
Releasing strictly by `seq` is what makes the verdicts independent of how many workers answer.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from streams.raw import decode_record
from streams.records import DedupCandidates, DedupManifest

LAST_RELEASED = "last_released"
LAST_MANIFEST = "last_manifest"


class Sequencer:
    """Pending manifests and answers in one mapping (a Faust table in the agent), written only by assignment.

    pending: "{seq:020d}" → {"manifest": the manifest's JSON or None, "answers": {partition: candidates}}
             "last_released" → seq of the last article released; anything at or before it is a re-delivery
             "last_manifest" → seq of the newest manifest held: answers before it with no manifest are orphans
    The router sends probes before the manifest, so a router that failed in between leaves only orphan answers,
    which the next manifest clears, never a manifest waiting forever.
    """

    def __init__(self, pending: MutableMapping[str, Any]) -> None:
        self.pending = pending

    def add_manifest(self, manifest: DedupManifest) -> list[tuple[DedupManifest, list[list[Any]]]]:
        """Hold the manifest; returns what became releasable, in order."""
        if manifest.seq <= self._last_released():
            return []
        key = _key(manifest.seq)
        held = self.pending.get(key) or {"manifest": None, "answers": {}}
        self.pending[key] = {**held, "manifest": manifest.dumps().decode("utf-8")}
        self.pending[LAST_MANIFEST] = manifest.seq
        return self._releasable()

    def add_answer(self, answer: DedupCandidates) -> list[tuple[DedupManifest, list[list[Any]]]]:
        """Hold one partition's answer; returns what became releasable, in order."""
        if answer.seq <= self._last_released():
            return []
        key = _key(answer.seq)
        held = self.pending.get(key) or {"manifest": None, "answers": {}}
        self.pending[key] = {**held, "answers": {**held["answers"], str(answer.partition): answer.candidates}}
        return self._releasable()

    def _releasable(self) -> list[tuple[DedupManifest, list[list[Any]]]]:
        """Complete manifests from the front of the queue: (manifest, candidates of all partitions in order)."""
        released = []
        for key in sorted(k for k in self.pending if k not in (LAST_RELEASED, LAST_MANIFEST)):
            held = self.pending[key]
            if held["manifest"] is None:
                if int(key) < self.pending.get(LAST_MANIFEST, -1):
                    del self.pending[key]  # an orphan: its manifest was never sent
                    continue
                break  # answers ahead of their manifest: everything behind them waits
            manifest = decode_record(held["manifest"].encode("utf-8"), DedupManifest)
            if any(str(p) not in held["answers"] for p in manifest.partitions):
                break
            candidates = [c for p in manifest.partitions for c in held["answers"][str(p)]]
            released.append((manifest, candidates))
            del self.pending[key]
            self.pending[LAST_RELEASED] = manifest.seq
        return released

    def _last_released(self) -> int:
        last: int = self.pending.get(LAST_RELEASED, -1)
        return last


def _key(seq: int) -> str:
    """Zero-padded, so keys sort in stream order."""
    return f"{seq:020d}"
