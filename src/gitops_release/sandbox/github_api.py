"""Compatibility module: the GitHub sandbox now lives in the ``gitops_release.sandbox.github``
package (one module per emulated API area). Existing imports and
``python -m gitops_release.sandbox.github_api [--flags]`` keep working."""

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
from gitops_release.sandbox.github.git import _git

__all__ = [
    "DEFAULT_LOGIN",
    "DEPLOYMENT_STATES",
    "DOCS",
    "LOGIN",
    "ROUTES",
    "GitHubSandbox",
    "RecordedRequest",
    "_git",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main())
