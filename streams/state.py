"""Typed table values: code reads full names while the table keeps each value's compact stored form.

A Faust table sends every assignment to its changelog, so stored keys stay short ("t", "b"). A value class names
them in full and converts at the table's edge (`from_stored`, `stored`), as quix-streams' typed State does; the
stored form, and so the bytes per article, stay what they were.
"""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Generic, Protocol, Self, TypeVar, overload


class Stored(Protocol):
    """A table value with a compact stored form (plain JSON types)."""

    @classmethod
    def from_stored(cls, stored: Any) -> Self: ...

    def stored(self) -> Any: ...


Value = TypeVar("Value", bound=Stored)
Default = TypeVar("Default")


class TypedTable(MutableMapping[str, Value], Generic[Value]):
    """Typed values over a mapping of their stored forms (a Faust table in the agents, a dict elsewhere)."""

    def __init__(self, table: MutableMapping[str, Any], kind: type[Value]) -> None:
        self.table = table
        self._decode = kind.from_stored

    def __getitem__(self, key: str) -> Value:
        stored = self.table.get(key)
        if stored is None:
            raise KeyError(key)
        return self._decode(stored)

    @overload
    def get(self, key: str) -> Value | None: ...

    @overload
    def get(self, key: str, default: Value | Default) -> Value | Default: ...

    def get(self, key: str, default: Any = None) -> Any:  # one lookup, not the mixin's two
        stored = self.table.get(key)
        return default if stored is None else self._decode(stored)

    def __setitem__(self, key: str, value: Value) -> None:
        self.table[key] = value.stored()

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)
