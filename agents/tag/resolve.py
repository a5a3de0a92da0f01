"""Document-level consistency: one canonical name and one label per entity within an article.

Surnames and partial names resolve to the article's person full name that contains them as whole tokens
("Trump" → "Donald Trump", "Kim" → "Kim Jong Un"), never across different full names ("Ivanka Trump" stays
herself). A bare surname matching several full names goes to the one mentioned most; on a tie, to the one named
first, because news style introduces the story's subject by full name before anyone who shares the surname
("Donald Trump" … "His daughter, Ivanka Trump" … "Trump said").
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from agents.tag.lexicon import Lexicon
from agents.tag.normalise import Mention, Span, known_name_spans, normalise_spans
from streams.records import EntityMention

# The stock models tag a person's surname ORG about as often as PERSON; both may stand for a person.
SURNAME_LABELS: frozenset[str] = frozenset({"PERSON", "ORG"})
NO_ALIASES = Lexicon()


def resolve_entities(text: str, spans: Iterable[Span], lexicon: Lexicon = NO_ALIASES,
                     written: str | None = None) -> list[EntityMention]:
    """The article's entity mentions from raw `(start, end, label)` spans, trimmed, resolved and relabelled.

    `text` is what the model read; `written`, when given, is the same-length text as the article has it (see
    `casing.restore_case`), and each mention's `text` is taken from there.
    """
    written = text if written is None else written
    mentions = normalise_spans(text, spans)
    mentions = sorted(mentions + known_name_spans(text, mentions, lexicon), key=lambda m: m.start)
    mentions = split_compounds(text, mentions)
    mentions = trim_headline_merges(text, mentions)
    canonicals = canonical_names(mentions, lexicon)
    labels = canonical_labels(mentions, canonicals, lexicon)
    return [
        EntityMention(start=m.start, end=m.end, text=written[m.start:m.end], label=labels[c], canonical=c)
        for m, c in zip(mentions, canonicals, strict=True)
        if c in labels
    ]


def split_compounds(text: str, mentions: Sequence[Mention]) -> list[Mention]:
    """Mentions with "Trump-Kim" split into "Trump" and "Kim" when every part is a name used elsewhere."""
    other_tokens = Counter(token for m in mentions for token in m.name.split())
    result: list[Mention] = []
    for m in mentions:
        parts = m.name.split("-")
        if (" " in m.name or len(parts) < 2
                or not all(p[:1].isupper() and other_tokens[p] > 0 for p in parts)):
            result.append(m)
            continue
        offset = m.start
        for part in parts:
            result.append(replace(m, start=offset, end=offset + len(part), name=part))
            offset += len(part) + 1
    return result


def trim_headline_merges(text: str, mentions: Sequence[Mention]) -> list[Mention]:
    """Headline mentions cut back to the name the body uses: "Trump Invites" → "Trump".

    Title case capitalises every word of a headline, and the models then read a capitalised verb as part of the
    name before it. A headline mention written nowhere else whose leading words are a name used in the body is
    cut to those words.
    """
    headline_end = text.find("\n")
    if headline_end < 0:
        return list(mentions)
    body_names = Counter(m.name for m in mentions if m.start > headline_end)
    result: list[Mention] = []
    for m in mentions:
        tokens = m.name.split()
        if m.end <= headline_end and len(tokens) > 1 and body_names[m.name] == 0:
            prefix = next((" ".join(tokens[:n]) for n in range(len(tokens) - 1, 0, -1)
                           if body_names[" ".join(tokens[:n])]), None)
            written = text[m.start:m.end]
            if prefix is not None and written.startswith(prefix):
                result.append(replace(m, end=m.start + len(prefix), name=prefix))
                continue
        result.append(m)
    return result


def _contains(longer: Sequence[str], shorter: Sequence[str]) -> bool:
    """True if `shorter` occurs in `longer` as a contiguous run of whole tokens."""
    width = len(shorter)
    return any(list(longer[i:i + width]) == list(shorter) for i in range(len(longer) - width + 1))


def _is_full_name(name: str) -> bool:
    return sum(token[:1].isupper() for token in name.split()) >= 2


def canonical_names(mentions: Sequence[Mention], lexicon: Lexicon) -> list[str]:
    """The canonical name of each mention: the lexicon's name, else the person full name it is part of."""
    bases = [lexicon.canonical_by_surface.get(m.name, m.name) for m in mentions]
    full_names = {b for b, m in zip(bases, mentions, strict=True) if m.label == "PERSON" and _is_full_name(b)}
    tokens = {name: name.split() for name in full_names}
    widest = [f for f in full_names if not any(g != f and _contains(tokens[g], tokens[f]) for g in full_names)]
    # An ORG-tagged surname counts only if the article also calls it a person somewhere ("Bloomberg" the
    # agency must not become "Michael Bloomberg" just because he is mentioned too).
    person_bases = {b for b, m in zip(bases, mentions, strict=True) if m.label == "PERSON" or m.titled}
    base_counts = Counter(bases)
    weight = {f: sum(base_counts[g] for g in full_names if _contains(tokens[f], tokens[g])) for f in widest}

    first_named = {b: i for i, b in reversed(list(enumerate(bases)))}

    def resolve(base: str, label: str) -> str:
        if base not in full_names and (label not in SURNAME_LABELS or base not in person_bases):
            return base
        parts = base.split()
        candidates = [f for f in widest if f != base and _contains(tokens[f], parts)]
        if not candidates:
            return base
        return min(candidates, key=lambda f: (-weight[f], first_named.get(f, len(bases))))

    return [resolve(b, m.label) for b, m in zip(bases, mentions, strict=True)]


def canonical_labels(mentions: Sequence[Mention], canonicals: Sequence[str], lexicon: Lexicon) -> dict[str, str]:
    """One label per canonical name; canonicals that are not entities at all (see below) get none."""
    grouped: dict[str, list[Mention]] = defaultdict(list)
    for m, c in zip(mentions, canonicals, strict=True):
        grouped[c].append(m)
    labels: dict[str, str] = {}
    for canonical, group in grouped.items():
        if canonical in lexicon.labels:
            labels[canonical] = lexicon.labels[canonical]
        elif _is_full_name(canonical) and any(m.label == "PERSON" for m in group):
            labels[canonical] = "PERSON"
        elif _looks_like_a_thing(canonical, group):
            continue
        else:
            labels[canonical] = _majority_label(canonical, group)
    return labels


def _looks_like_a_thing(canonical: str, group: Sequence[Mention]) -> bool:
    """True for a one-word "person" the text treats as a thing: never titled, once after "a"/"the".

    The stock models tag capitalised nouns PERSON ("at the Border", "a Twitter post"); people's names do not take
    articles, and a real person named by one word is introduced with a title ("President Xi").
    """
    return (" " not in canonical
            and all(m.label == "PERSON" for m in group)
            and not any(m.titled for m in group)
            and any(m.after_article for m in group))


def _majority_label(canonical: str, group: Sequence[Mention]) -> str:
    """The most frequent label; ties go to the label of the mentions written as the canonical name itself."""
    counts = Counter(m.label for m in group)
    top = max(counts.values())
    tied = [label for label, n in counts.items() if n == top]
    if len(tied) == 1:
        return tied[0]
    full_name_labels = Counter(m.label for m in group if m.name == canonical and m.label in tied)
    if full_name_labels:
        return full_name_labels.most_common(1)[0][0]
    return next(m.label for m in group if m.label in tied)
