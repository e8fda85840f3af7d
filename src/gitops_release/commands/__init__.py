"""The command registry: name -> (module, one-line description).

Modules are imported only when their command runs, so dispatch-update's zero-install path
never imports a third-party package. Each module provides:

- ``INPUTS``: tuple of runtime.InputSpec (drives CLI flags, env names and docs)
- ``Inputs``: frozen dataclass with ``from_reader(reader)`` that validates before any side effect
- ``Outputs``: dataclass with ``as_dict()`` (output name -> value) and ``summary()`` (Markdown)
- ``run(inputs, ctx) -> Outputs``
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[str, str]] = {
    "dispatch-update": (
        "gitops_release.commands.dispatch_update",
        "Send one repository_dispatch with a release (image, tag, digest, channel) to the config repo.",
    ),
    "update-db": (
        "gitops_release.commands.update_db",
        "Validate a release against the policy and commit it to db/db.json (race-safe, idempotent).",
    ),
    "db query": (
        "gitops_release.commands.db_query",
        "Query db/db.json with a jq filter or --container/--channel; table or JSON.",
    ),
    "db validate": (
        "gitops_release.commands.db_validate",
        "Validate db/db.json and the policy file against the shipped JSON Schemas.",
    ),
    "promote-overlay": (
        "gitops_release.commands.promote_overlay",
        "Promote the same image dev → stage → prod (overlays, values files) by PR or commit; pin, revert.",
    ),
    "overlays status": (
        "gitops_release.commands.overlays_status",
        "Show which image every environment's overlays run: env x image, as a table, Markdown or JSON.",
    ),
    "await-argocd-sync": (
        "gitops_release.commands.await_argocd_sync",
        "Wait until Argo CD runs the expected revision, Synced and Healthy; fail fast; write evidence.",
    ),
    "report-status": (
        "gitops_release.commands.report_status",
        "Report a run to GitHub: commit status, deployment status (preview too), one PR comment per context.",
    ),
    "trace": (
        "gitops_release.commands.trace",
        "Where an image is now and how it got there: envs, promotions, rollbacks, Argo CD, deployments.",
    ),
    "serve": (
        "gitops_release.commands.serve",
        "Serve db.json over HTTP (release-channel API): reloads on change, health, metrics. Extra: server.",
    ),
    "init config-repo": (
        "gitops_release.commands.init_config_repo",
        "Write a config repo from the templates: db, policy, overlays, workflows; idempotent, --force.",
    ),
    "init source-repo": (
        "gitops_release.commands.init_source_repo",
        "Write a source repo's build-and-dispatch workflow with its ref -> channel map; idempotent.",
    ),
    "sandbox": (
        "gitops_release.commands.sandbox",
        "Start the local GitHub API emulator (and bare git remotes) on 127.0.0.1.",
    ),
}
