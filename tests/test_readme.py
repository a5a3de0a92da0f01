"""The docs say what the code has: every setting, metric, topic and record field in docs/reference.md, every path
and link in README.md and docs/ exists, and CI runs the README's test command.

`PYTHONPATH=. python tests/test_readme.py` rewrites the settings table of docs/reference.md from `streams/settings.py`.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import faust
from prometheus_client import REGISTRY

from streams import metrics, records
from streams.settings import DEFAULTS, documented_settings
from streams.topics import TOPIC_SPECS

REPO = Path(__file__).resolve().parent.parent
README_PATH = REPO / "README.md"
REFERENCE_PATH = REPO / "docs" / "reference.md"
DOCS = [README_PATH, *sorted((REPO / "docs").glob("*.md"))]
SETTINGS_START = "<!-- settings: generated from streams/settings.py by tests/test_readme.py; do not edit by hand -->"
SETTINGS_END = "<!-- end of settings -->"
# What a path written in the docs may start with: the checkout's own folders and top-level files.
REPO_ROOTS = {"agents", "streams", "wirewatch", "tests", "deploy", "seeds", "benchmarks", "docs", ".ci",
              "pyproject.toml", "docker-compose.yml", "README.md"}
PACKAGES = ("agents", "streams", "wirewatch", "benchmarks")  # dotted module names the docs may use
TOPIC_NAMES = {f"wirewatch.{spec.suffix}" for spec in TOPIC_SPECS.values()}  # `wirewatch.rules` is a topic


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def shown_default(default: Any) -> str:
    """A setting's default as the docs show it: package data and the virtualenv by where they are, not this
    machine's absolute path."""
    if isinstance(default, Path) and default.is_absolute():
        if default.is_relative_to(DEFAULTS):
            return f"`{DEFAULTS.relative_to(DEFAULTS.parent.parent) / default.relative_to(DEFAULTS)}` (package data)"
        if default.is_relative_to(sys.prefix):
            return f"`<virtualenv>/{default.relative_to(sys.prefix)}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return "(empty)" if default == "" else f"`{default}`"


def settings_table() -> str:
    """The settings table of docs/reference.md, from the settings' own documentation."""
    rows = [f"| `{name}` | {shown_default(default)} | {escaped(doc)} |" for name, default, doc in documented_settings()]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows])


def escaped(cell: str) -> str:
    """Text fit for a markdown table cell."""
    return cell.replace("|", "\\|")


def with_settings_table(text: str) -> str:
    """`text` (docs/reference.md) with the generated settings table between its markers."""
    start, end = text.index(SETTINGS_START) + len(SETTINGS_START), text.index(SETTINGS_END)
    return f"{text[:start]}\n{settings_table()}\n{text[end:]}"


def test_the_settings_table_is_generated_from_the_settings() -> None:
    reference = read(REFERENCE_PATH)
    assert reference == with_settings_table(reference), "run `PYTHONPATH=. python tests/test_readme.py`"


def test_the_metrics_table_matches_the_registered_metrics() -> None:
    registered = {}
    for family in REGISTRY.collect():
        if family.name.startswith("wirewatch_"):
            name = f"{family.name}_total" if family.type == "counter" else family.name
            registered[name] = (family.type, set(metric_labels(family.name)))
    rows = re.findall(r"^\| `(wirewatch_\w+)` \| (\w+) \| ([^|]*)\|", read(REFERENCE_PATH), flags=re.MULTILINE)
    # label names are in backticks; their values, in parentheses after them, are not names
    documented = {name: (kind, set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", labels))))
                  for name, kind, labels in rows}
    assert documented == registered


def metric_labels(name: str) -> tuple[str, ...]:
    """The label names a wirewatch metric was declared with."""
    collector = next(c for c in vars(metrics).values() if getattr(c, "_name", None) == name)
    return tuple(collector._labelnames)


def test_every_topic_is_documented() -> None:
    reference = read(REFERENCE_PATH)
    assert [spec.suffix for spec in TOPIC_SPECS.values() if f"| `{spec.suffix}` |" not in reference] == []


def test_every_field_of_every_topic_record_is_documented() -> None:
    records_section = read(REFERENCE_PATH).split("## Records", 1)[1]
    missing = [f"{record.__name__}.{field}" for record in topic_records()
               for field in record._options.fields if f"`{field}`" not in records_section]
    assert missing == []


def topic_records() -> set[type[faust.Record]]:
    """The records the topics carry, and the records nested in them."""
    found: set[type[faust.Record]] = set()
    for spec in TOPIC_SPECS.values():
        value_types = spec.value_type if isinstance(spec.value_type, tuple) else (spec.value_type,)
        found.update(t for t in value_types if t is not None)
    nested = {records.DedupVerdict, records.EntityMention, records.RawArticle}
    return found | nested


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"^    (bash deploy/setup\.sh.*)$", read(README_PATH), flags=re.MULTILINE)
    assert len(commands) == 2, "the README has exactly two set-up commands: run and test"
    test_command = next(c for c in commands if "pytest" in c)
    ci = read(REPO / ".ci" / "run").strip().splitlines()
    assert ci[-1] == test_command


def test_every_path_the_docs_name_exists() -> None:
    missing = [f"{doc.name}: {path}" for doc in DOCS for path in named_paths(read(doc)) if not path_exists(path)]
    assert missing == []


def named_paths(text: str) -> set[str]:
    """Repository paths (`agents/dedup/decide.py`, `tests/`) and modules (`benchmarks.stage_cores`,
    `streams.settings.Settings`) the text names: in backticks, after `python -m`, or anywhere as a path under one of
    the checkout's folders."""
    folders = "|".join(re.escape(root) for root in REPO_ROOTS if "." not in root.lstrip("."))
    names = (set(re.findall(r"`([^`\s]+)`", text)) | set(re.findall(r"-m ([\w.]+)", text))
             | set(re.findall(rf"(?<![\w./-])((?:{folders})/[\w./-]*)", text)))
    paths = set()
    for name in names:
        name = name.split("::")[0].rstrip(".,:")
        if "<" in name or "*" in name or "…" in name:
            continue  # a pattern such as agents/<stage>/agent.py
        if name.split("/")[0] in REPO_ROOTS or (name.split(".")[0] in PACKAGES and name not in TOPIC_NAMES):
            paths.add(name)
    return paths


def path_exists(name: str) -> bool:
    """A path exists in the checkout; a dotted module name is a module, or a name defined in one."""
    if "/" in name or name in REPO_ROOTS:
        return (REPO / name).exists()
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:length])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
            rest = parts[length:]
            return not rest or re.search(rf"\b{re.escape(rest[0])}\b", read(module)) is not None
    return False


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", read(doc)):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists() or (anchor and anchor not in heading_anchors(linked)):
                broken.append(f"{doc.name}: {target}")
    assert broken == []


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a markdown file's headings."""
    if path.suffix != ".md":
        return set()
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", read(path), flags=re.DOTALL), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = read(README_PATH)
    assert [doc.name for doc in DOCS[1:] if f"](docs/{doc.name})" not in readme] == []


if __name__ == "__main__":
    REFERENCE_PATH.write_text(with_settings_table(read(REFERENCE_PATH)), encoding="utf-8")
