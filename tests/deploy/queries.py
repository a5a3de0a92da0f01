"""The PromQL expressions wirewatch ships (alert rules, dashboard panels) and what the tests need to check them: the
series selectors each one reads, and a form of each rule that returns data whether or not it fires."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.conftest import REPO

ALERTS_PATH = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD_PATH = REPO / "deploy" / "grafana" / "wirewatch.json"
# Every series the files read is wirewatch's own or prometheus_client's process collector's.
SELECTOR = re.compile(r"\b((?:wirewatch|process)_[a-z_]+)\b(\{[^}]*\})?")
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(?!\s*bool\b)")
GROUPING = re.compile(r"\bby\s*\(([^)]*)\)")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")


@dataclass(frozen=True)
class Rule:
    """One alerting rule of alerts.yml."""

    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


def alert_rules() -> list[Rule]:
    groups = yaml.safe_load(ALERTS_PATH.read_text())["groups"]
    return [Rule(r["alert"], r["expr"], r.get("labels", {}), r.get("annotations", {}))
            for group in groups for r in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text())
    return loaded


def panel_expressions() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard, as Grafana sends it before variables."""
    return [(panel["title"], target["expr"]) for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def with_variables(expr: str, rate_interval: str) -> str:
    """A panel's expression as Grafana sends it with every stage and instance selected."""
    return (expr.replace("$__rate_interval", rate_interval).replace("$stage", ".*").replace("$instance", ".*"))


def selectors(expr: str) -> list[str]:
    """The series selectors of `expr` (`name{matchers}`), each of which must find series on a live pipeline."""
    return [name + (matchers or "") for name, matchers in SELECTOR.findall(expr)]


def always_answering(expr: str) -> str:
    """`expr` with every comparison a `bool` one, and without an outer `absent()`: it returns its series (0 or 1)
    whether or not the alert fires, so an empty answer can only mean a series or label the expression names is
    missing. Comparisons inside label matchers (`{a!="b"}`) are left alone."""
    absent = re.fullmatch(r"\s*absent\((.*)\)\s*", expr, flags=re.DOTALL)
    expr = absent.group(1) if absent else expr
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(expr):
        if char == "{":
            if depth == 0:
                pieces.append(COMPARISON.sub(r"\1 bool", expr[start:index]))
                start = index
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                pieces.append(expr[start:index + 1])
                start = index + 1
    pieces.append(COMPARISON.sub(r"\1 bool", expr[start:]))
    return "".join(pieces)


def grouping_labels(expr: str) -> set[str]:
    """The labels `by (…)` keeps: each must be set on the expression's answer (a misspelt one would be empty),
    except a histogram's `le`, which `histogram_quantile` consumes."""
    return {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")} - {"", "le"}


def template_labels(rule: Rule) -> set[str]:
    """The labels the rule's annotations print (`{{ $labels.stage }}`)."""
    return {label for text in rule.annotations.values() for label in TEMPLATE_LABEL.findall(text)}
