"""The linter, the type checker and the dead-code finder pass over the repository (configured in pyproject.toml).

They run here, as tests, so that CI's one command (`pytest`) runs them too; a failure shows the tool's findings.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TOOLS = Path(sys.executable).parent  # the virtualenv's bin/, where the `test` extra installed them


@pytest.mark.parametrize("command", [
    ["ruff", "check", "."],
    ["mypy"],  # the files and the strictness per module are in pyproject.toml
    ["vulture"],  # the paths, the whitelist and the confidence are in pyproject.toml
], ids=lambda command: command[0])
def test_tool_finds_nothing(command: list[str]) -> None:
    tool = TOOLS / command[0]
    if not tool.exists():
        pytest.fail(f"{tool} is missing: install the test extra (`bash deploy/setup.sh --test`)")
    result = subprocess.run([str(tool), *command[1:]], cwd=REPO, capture_output=True, text=True,
                            timeout=240, check=False)
    assert result.returncode == 0, f"{' '.join(command)} found:\n{result.stdout}{result.stderr}"
