"""A stateful GitHub REST API emulator on 127.0.0.1, backed by bare git repositories.

For our tests, ``make demo`` and users' local workflow tests (act). Standard library HTTP
server; every request it accepts and every response it sends is checked against GitHub's
OpenAPI description (see ``sandbox/openapi.py``) when openapi-core is installed.

    with GitHubSandbox(tmp_path) as gh:
        gh.create_repo("org/config", files={"db/db.json": "{}"})
        requests.post(f"{gh.url}/repos/org/config/dispatches", json={...},
                      headers={"Authorization": "token sandbox-token"})
        gh.dispatches("org/config")

One module per emulated API area around the core (``server``): ``repos`` (repositories,
branches, git refs), ``dispatches``, ``statuses``, ``deployments``, ``pulls`` (+ review requests
and reviews), ``issues`` (comments, labels), ``apps`` (App JWTs, installations, access tokens);
``model`` holds the records and route machinery, ``git`` the git plumbing. See docs/sandbox.md
for every endpoint, fault injection and use with act.
"""

from __future__ import annotations

from gitops_release.sandbox.github.model import DEFAULT_LOGIN, DEPLOYMENT_STATES, DOCS, LOGIN
from gitops_release.sandbox.github.server import ROUTES, GitHubSandbox, main
from gitops_release.sandbox.httpbase import RecordedRequest

__all__ = [
    "DEFAULT_LOGIN",
    "DEPLOYMENT_STATES",
    "DOCS",
    "LOGIN",
    "ROUTES",
    "GitHubSandbox",
    "RecordedRequest",
    "main",
]
