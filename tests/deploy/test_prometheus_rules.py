"""The alert rules, the Prometheus configuration and the Grafana dashboard, offline: promtool checks and unit-tests
the rules (deploy/prometheus/alerts_test.yml), and every series they read is one wirewatch declares. A real
Prometheus evaluates the same expressions against a live pipeline in test_real_prometheus.py."""
from __future__ import annotations

import importlib
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.conftest import REPO
from tests.deploy.queries import (
    ALERTS_PATH,
    alert_rules,
    dashboard,
    panel_expressions,
    selectors,
    template_labels,
    with_variables,
)
from wirewatch.stages import STAGE_MODULES

PROMETHEUS = REPO / "deploy" / "prometheus"
RUNBOOK = REPO / "deploy" / "RUNBOOK.md"
SEVERITIES = {"page", "ticket"}
importlib.import_module("streams.metrics")  # registers every wirewatch metric


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("promtool")
    if command is None:
        pytest.fail("promtool is not installed: `apt-get install prometheus` (deploy/setup.sh --test does)")
    return subprocess.run([command, *arguments], capture_output=True, text=True, timeout=120, check=False,
                          cwd=PROMETHEUS)


def exported_series() -> set[str]:
    """The names of the series this code base exports: each metric's samples (a counter's `_total`, a histogram's
    `_bucket`, `_count`, `_sum`) and those of prometheus_client's process collector."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_promtool_checks_the_rules_and_the_compose_configuration() -> None:
    for command in [("check", "rules", ALERTS_PATH.name), ("check", "config", "prometheus.yml")]:
        checked = promtool(*command)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout  # the compose configuration loads alerts.yml


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test["alert_rule_test"] if not case["exp_alerts"]}
    assert fired == quiet == {rule.alert for rule in alert_rules()}


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section() -> None:
    runbook_sections = {re.sub(r"\W", "", heading.lower()) for heading in
                        re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)}
    for rule in alert_rules():
        assert rule.labels.get("severity") in SEVERITIES, rule
        assert rule.annotations.get("summary"), rule
        link = rule.annotations.get("runbook_url", "")
        assert link.startswith("deploy/RUNBOOK.md#") and link.split("#")[1] in runbook_sections, rule


OPTIONAL_STAGES = {"web"}  # a deployment may leave the wire page out: its absence is no fault


def test_every_stage_pages_when_it_has_no_ready_worker() -> None:
    not_ready = {rule.labels["stage"]: rule.expr for rule in alert_rules() if rule.alert == "WirewatchStageNotReady"}
    assert set(not_ready) == set(STAGE_MODULES)
    for stage, expr in not_ready.items():
        if stage in OPTIONAL_STAGES:
            assert expr == f'max(wirewatch_worker_ready{{stage="{stage}"}}) == 0'
            continue
        assert expr == f'absent(wirewatch_worker_ready{{stage="{stage}"}} == 1)'
        assert not {"stage"} & set().union(*(template_labels(r) for r in alert_rules() if r.expr == expr)), \
            "absent() answers without labels: the summary must name the stage itself"


def test_every_series_the_rules_and_the_dashboard_read_is_exported() -> None:
    exported = exported_series()
    expressions = [rule.expr for rule in alert_rules()] + [with_variables(e, "1m") for _, e in panel_expressions()]
    for expr in expressions:
        names = {selector.split("{")[0] for selector in selectors(expr)}
        assert names, f"no wirewatch series in {expr!r}"
        assert names <= exported, f"{expr!r} reads series no one exports: {names - exported}"


def test_the_dashboard_has_every_panel_the_issue_asks_for_templated_by_stage_and_instance() -> None:
    board = dashboard()
    variables = {variable["name"] for variable in board["templating"]["list"]}
    assert {"datasource", "stage", "instance"} <= variables
    read = " ".join(expr for _, expr in panel_expressions())
    for series in ["wirewatch_articles_total", "wirewatch_consumer_lag_records", "wirewatch_consumer_lag_seconds",
                   "wirewatch_stage_seconds_bucket", "wirewatch_end_to_end_seconds_bucket",
                   "wirewatch_dedup_verdicts_total", "wirewatch_entities_total", "wirewatch_alerts_total",
                   "wirewatch_dead_letters_total", "wirewatch_worker_restarts_total",
                   "process_resident_memory_bytes"]:
        assert series in read, series
    for title, expr in panel_expressions():
        if "stage" in expr and "wirewatch_worker_restarts_total" not in expr:  # restarts come from `run`, no worker
            assert '$stage' in expr and '$instance' in expr, title
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_compose_provisions_the_rules_and_the_dashboard() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]
    assert yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["rule_files"] == [ALERTS_PATH.name]
    grafana = compose["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    mounts = {volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts == {"./deploy/grafana/provisioning", "./deploy/grafana/wirewatch.json"}
    for stage in STAGE_MODULES:
        assert "/readyz" in " ".join(compose[stage]["healthcheck"]["test"]), stage
