"""Entities we know by name, read from the alias file: canonical name, label, and the other ways copy writes them.

Data, not code: a line in `WIREWATCH_ALIASES_FILE` makes a name resolve (and be found where the model misses it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The labels the tag stage keeps (the others are dates, numbers and amounts); an alias must carry one of them.
KEPT_LABELS: frozenset[str] = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})


class AliasesInvalid(ValueError):
    """The alias file cannot be used; the message names the file and every problem in it."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Lexicon:
    """Canonical name → label, and every surface form (the canonical name included) → its canonical name."""

    labels: dict[str, str] = field(default_factory=dict)
    canonical_by_surface: dict[str, str] = field(default_factory=dict)
    surface_pattern: re.Pattern[str] | None = field(init=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.canonical_by_surface:
            # Longest surface first so "United States of America" wins over "United States"; word edges both sides.
            surfaces = sorted(self.canonical_by_surface, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w.\-])(?:" + "|".join(map(re.escape, surfaces)) + r")(?![\w\-]|\.\w)")
            object.__setattr__(self, "surface_pattern", pattern)

    @classmethod
    def from_entries(cls, entries: dict[str, Any], path: Path = Path("<aliases>")) -> Lexicon:
        """A lexicon from `{canonical: {label, aliases}}`; every problem is reported at once."""
        problems: list[str] = []
        labels: dict[str, str] = {}
        canonical_by_surface: dict[str, str] = {}
        for canonical, entry in entries.items():
            label = entry.get("label") if isinstance(entry, dict) else None
            aliases = entry.get("aliases", []) if isinstance(entry, dict) else None
            if not isinstance(canonical, str) or not canonical.strip():
                problems.append(f"{canonical!r}: a canonical name must be a non-empty string")
                continue
            if not isinstance(label, str) or label not in KEPT_LABELS:
                problems.append(f"{canonical!r}: label must be one of {sorted(KEPT_LABELS)}, not {label!r}")
                label = ""  # the lexicon is refused below; its aliases are still checked
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                problems.append(f"{canonical!r}: aliases must be a list of non-empty strings")
                continue
            labels[canonical] = label
            for surface in (canonical, *aliases):
                owner = canonical_by_surface.setdefault(surface, canonical)
                if owner != canonical:
                    problems.append(f"{surface!r} is an alias of both {owner!r} and {canonical!r}")
        if problems:
            raise AliasesInvalid(path, problems)
        return cls(labels, canonical_by_surface)

    @classmethod
    def from_file(cls, path: Path | str) -> Lexicon:
        """The lexicon in a YAML alias file (see streams/defaults/aliases.yaml); a missing or broken file raises."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise AliasesInvalid(path, [f"cannot read aliases: {exc}"]) from exc
        if document is None:
            return cls()
        if not isinstance(document, dict):
            raise AliasesInvalid(path, ["expected a mapping of canonical name → {label, aliases}"])
        return cls.from_entries(document, path)
