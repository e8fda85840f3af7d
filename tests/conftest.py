"""Shared pytest setup. Fixtures live in tests/fixtures/*.py, one module per real part."""

from __future__ import annotations

import pytest

from gitops_release import runtime

pytest_plugins = [
    "tests.fixtures.github_sandbox",
    "tests.fixtures.argocd_sandbox",
    "tests.fixtures.git_remotes",
    "tests.fixtures.act",
]


@pytest.fixture(autouse=True)
def _clean_secret_registry():
    """Secrets registered by one test must not redact another test's output."""
    runtime.forget_secrets()
    yield
    runtime.forget_secrets()
