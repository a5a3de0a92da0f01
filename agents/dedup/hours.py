"""What was written in each hour of stream time, so expiry visits only what it removes, never a whole table.

A note is two small assignments (the hour's count, then the note under its number); a list per hour would be
rewritten whole on every note, and a Faust table sends every rewrite to its changelog.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

HOUR = 3600.0


class HourLog:
    """Notes by hour in a mapping (a Faust table in the agents), written only by assignment.

    "{prefix}hours" → the hours that hold notes, ascending; "{prefix}{hour}" → how many notes that hour holds;
    "{prefix}{hour}:{n}" → the n-th note. One mapping can hold several logs under different prefixes.
    """

    def __init__(self, table: MutableMapping[str, Any], prefix: str = "") -> None:
        self.table = table
        self.prefix = prefix

    def note(self, time: float, value: Any) -> None:
        """Remember `value` under the hour of `time` (unix seconds)."""
        hour = int(time // HOUR)
        count_key = f"{self.prefix}{hour}"
        count = self.table.get(count_key, 0)
        if count == 0:
            hours = self.table.get(f"{self.prefix}hours") or []
            self.table[f"{self.prefix}hours"] = sorted({*hours, hour})
        self.table[f"{count_key}:{count}"] = value
        self.table[count_key] = count + 1

    def take_before(self, time: float) -> list[Any]:
        """The notes of every hour wholly before `time`, oldest hour first; they are removed from the log."""
        cutoff_hour = int(time // HOUR)
        hours = self.table.get(f"{self.prefix}hours") or []
        expired = [hour for hour in hours if hour < cutoff_hour]
        taken = []
        for hour in expired:
            count_key = f"{self.prefix}{hour}"
            for number in range(self.table.get(count_key, 0)):
                taken.append(self.table[f"{count_key}:{number}"])
                del self.table[f"{count_key}:{number}"]
            self.table.pop(count_key, None)
        if expired:
            self.table[f"{self.prefix}hours"] = hours[len(expired):]
        return taken
