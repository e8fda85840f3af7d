"""pytest plugin loaded by scripts/mutation.py into every mutmut test run (never by `make test`).

Property tests ask Hypothesis for hundreds to thousands of examples (2,000 in
test_release_schema_agreement.py); a surviving mutant runs every test of its module, so on two
cores one survivor of db.py or release.py would cost minutes. During mutation runs each
property test gets at most MUTATION_MAX_EXAMPLES examples (default 30), derandomized, without
the example database and without health checks, so the same code always gets the same
verdicts. The pinning tests, not the property tests, are what is meant to kill mutants.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

MAX_EXAMPLES = int(os.environ.get("MUTATION_MAX_EXAMPLES", "30"))


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if test is None or current is None or not hasattr(test, "hypothesis"):
            continue
        test._hypothesis_internal_use_settings = settings(
            current,
            max_examples=min(current.max_examples, MAX_EXAMPLES),
            derandomize=True,
            database=None,
            # Health checks judge the strategies, not the code under test; a mutant must not
            # "die" because example generation was slow or filtered much.
            suppress_health_check=list(HealthCheck),
        )
