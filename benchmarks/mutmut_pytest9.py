"""A pytest plugin for the mutation run (`[tool.mutmut] pytest_add_cli_args` in pyproject.toml), loaded by nothing
else. It makes two things work that mutmut 3 gets wrong here:

- mutmut reads `item._nodeid`, which pytest 9 no longer has;
- mutmut learns which tests reach a function by running each test once ("stats") and runs only those against the
  function's mutants. A module-scoped fixture (the cleaned seeds) runs product code once, inside the first test
  that asks for it, so the other tests using its value would never be run against a mutant and a mutant they catch
  would be reported as surviving. During that one stats run every such fixture is computed again for each test.
"""
from __future__ import annotations

import os
from typing import Any


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid


def pytest_runtest_teardown(item: Any) -> None:
    if os.environ.get("MUTANT_UNDER_TEST") != "stats":
        return
    for fixturedefs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in fixturedefs:
            if fixturedef.scope != "function" and fixturedef.cached_result is not None:
                fixturedef.finish(item._request)
