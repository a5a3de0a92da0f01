"""Entities we know by name: canonical name, label and the other ways wire copy writes them.

Data, not code: add a line here to make a name resolve (and be found even where the model misses it).
Surface forms match case-sensitively, so `US` is the country and `us` is not; list case variants explicitly.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownEntity:
    """A canonical entity: the label it always gets and the surface forms that mean it."""

    label: str
    aliases: tuple[str, ...] = ()


KNOWN_ENTITIES: dict[str, KnownEntity] = {
    "United States": KnownEntity("GPE", ("U.S.", "US", "USA", "U.S.A.", "United States of America")),
    "United Kingdom": KnownEntity("GPE", ("U.K.", "UK", "Britain", "Great Britain")),
    "Demilitarized Zone": KnownEntity(
        "LOC", ("DMZ", "Demilitarised Zone", "demilitarized zone", "demilitarised zone")),
    "Group of 20": KnownEntity("ORG", ("G20", "G-20", "Group of Twenty")),
    "Group of Seven": KnownEntity("ORG", ("G7", "G-7", "Group of 7")),
    "European Union": KnownEntity("ORG", ("EU", "E.U.")),
    "United Nations": KnownEntity("ORG", ("U.N.", "UN")),
    # Platforms the stock English models often tag PERSON ("over Twitter"); their label is not in doubt.
    "Twitter": KnownEntity("ORG"),
    "Facebook": KnownEntity("ORG"),
    "Instagram": KnownEntity("ORG"),
    "YouTube": KnownEntity("ORG"),
}

CANONICAL_BY_SURFACE: dict[str, str] = {
    surface: canonical
    for canonical, known in KNOWN_ENTITIES.items()
    for surface in (canonical, *known.aliases)
}
