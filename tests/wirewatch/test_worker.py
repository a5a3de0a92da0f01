"""A stage's worker app: the clean worker serves `POST /ingest` beside its agent, and no stage imports ingest."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from streams.settings import Settings
from tests.conftest import REPO
from wirewatch.stages import STAGE_MODULES
from wirewatch.worker import build_stage_app

PROBES = {"/metrics", "/healthz", "/readyz"}  # every worker's


@pytest.mark.parametrize("stage, pages", [("clean", PROBES | {"/ingest"}), ("dedup", PROBES)])
def test_only_the_clean_worker_serves_the_ingest_endpoint(stage: str, pages: set[str]) -> None:
    settings = dataclasses.replace(Settings.from_env({}), ingest_token="t0k", table_store="memory")
    assert set(build_stage_app(stage, settings).web.views) == pages


def test_no_stage_imports_the_ingest_endpoint() -> None:
    imports = "; ".join(f"import {module}" for module in STAGE_MODULES.values())
    check = f"import sys; {imports}; assert 'agents.ingest.endpoint' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", check], cwd=REPO, timeout=120, check=False).returncode == 0
