"""Compatibility module: the GitHub sandbox now lives in the ``gitops_release.sandbox.github``
package (one module per emulated API area). Existing imports (every public name the single module
had) and ``python -m gitops_release.sandbox.github_api [--flags]`` keep working."""

from __future__ import annotations

from gitops_release.sandbox.github import (
    DEFAULT_LOGIN,
    DEPLOYMENT_STATES,
    DOCS,
    LOGIN,
    ROUTES,
    GitHubSandbox,
    RecordedRequest,
    main,
)
from gitops_release.sandbox.github.git import ZERO_SHA, _git
from gitops_release.sandbox.github.model import (
    BUSINESS_LIMITS,
    EVENT_FILE,
    EVENTS_PATH,
    NOT_COLLABORATOR_MESSAGE,
    PULL_BODY_LIMIT,
    SECONDARY_RATE_LIMIT_MESSAGE,
)

__all__ = [
    "BUSINESS_LIMITS",
    "DEFAULT_LOGIN",
    "DEPLOYMENT_STATES",
    "DOCS",
    "EVENTS_PATH",
    "EVENT_FILE",
    "LOGIN",
    "NOT_COLLABORATOR_MESSAGE",
    "PULL_BODY_LIMIT",
    "ROUTES",
    "SECONDARY_RATE_LIMIT_MESSAGE",
    "ZERO_SHA",
    "GitHubSandbox",
    "RecordedRequest",
    "_git",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main())
