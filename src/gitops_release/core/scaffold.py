"""``init``'s pure part: placeholders substituted into the templates, the plan of what to write,
and the next steps. No I/O: commands/init.py reads the templates and the target directory.

STANDARD LIBRARY ONLY: ``init`` runs from an installed wheel with nothing else (the wheel test
installs it with ``--no-deps``), so it imports nothing third-party.

The templates are real, working files (tests, lint gates and the e2e run them as they are); their
placeholders are the literal example values ``org/my-app``, ``my-app``, ``ghcr.io/org/my-app`` and
``org/config-repo``, so the defaults write the templates byte for byte (init warns about them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitops_release.core.channels import DEFAULT_CHANNEL_MAP, ChannelMap
from gitops_release.core.release import IMAGE_PATTERN, REPOSITORY_PATTERN, show
from gitops_release.errors import InputError

#: The example values the config-repo template is written with.
TEMPLATE_REPOSITORY = "org/my-app"
TEMPLATE_APP = "my-app"
TEMPLATE_IMAGE = "ghcr.io/org/my-app"
#: the config repository itself, one placeholder in every template set: templates/argocd and
#: templates/argo-workflows (repoURL https://github.com/org/config-repo.git, the Argo Events
#: webhook, the PostSync hook). Two spellings once left the Argo CD apps on a placeholder.
TEMPLATE_CONFIG_REPOSITORY = "org/config-repo"
_EVENTSOURCE_REPOSITORY = "- owner: {owner}\n          names: [{name}]"

# App names become Kubernetes names (Deployment, namespace <app>-stage, Application <app>-prod):
# a DNS-1123 label with room for the longest suffix ("-worker", "-stage") within 63 characters.
APP_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$(?!\n)"
MAX_APP = 50
_APP = re.compile(APP_PATTERN)
_REPOSITORY = re.compile(REPOSITORY_PATTERN)
_IMAGE = re.compile(IMAGE_PATTERN)
# Glob characters whose meaning differs between the channel map (fnmatch) and GitHub's branch and
# tag filters (`?` and `+` repeat the previous character there, a leading `!` negates).
_TRIGGER_UNSAFE = re.compile(r"[?+!\[\]]")
# Expression syntax: init writes each pattern verbatim into `with: channel-map:` and on.push, where
# GitHub evaluates ${{ }}; quotes and backslashes would change how the YAML around it reads.
_EXPRESSION_UNSAFE = re.compile(r"[${}\"'\\]")


@dataclass(frozen=True)
class ConfigRepoValues:
    """What ``init config-repo`` substitutes: the source repository allowed to release, the app
    (container, Kubernetes names) and its image repository."""

    repository: str = TEMPLATE_REPOSITORY
    app: str = TEMPLATE_APP
    image: str = TEMPLATE_IMAGE
    config_repository: str = TEMPLATE_CONFIG_REPOSITORY


@dataclass(frozen=True)
class SourceRepoValues:
    """What ``init source-repo`` substitutes into the dispatch workflow."""

    channel_map: ChannelMap = DEFAULT_CHANNEL_MAP
    #: None: derived at run time from the repository name (the template's behaviour)
    app: str | None = None
    image: str | None = None
    #: None: the repository variable CONFIG_REPOSITORY
    config_repository: str | None = None


def check_repository(value: str, field: str) -> str:
    if not _REPOSITORY.search(value):
        raise InputError(field, f"{show(value)} is not owner/name", fix="write it like my-org/my-app")
    return value


def check_app(value: str, field: str = "app") -> str:
    if not _APP.search(value):
        raise InputError(
            field,
            f"{show(value)} is not a Kubernetes name",
            fix=f"use 1-{MAX_APP} lowercase letters, digits and '-', starting and ending with a letter "
            "or digit, e.g. my-app",
        )
    return value


def check_image(value: str, field: str = "image") -> str:
    if not _IMAGE.search(value) or value != value.lower():
        raise InputError(
            field,
            f"{show(value)} is not an image repository",
            fix="give the lowercase repository without tag or digest, e.g. ghcr.io/my-org/my-app",
        )
    return value


def default_app(repository: str) -> str:
    """The app name the source-repo workflow derives too: the repository's name, lowercased."""
    return repository.partition("/")[2].lower()


def default_image(repository: str) -> str:
    """The image the source-repo workflow pushes: ``ghcr.io/<owner/name lowercased>``."""
    return f"ghcr.io/{repository.lower()}"


def substitute(text: str, replacements: Mapping[str, str]) -> str:
    """Every key of ``replacements`` replaced in one pass, longest key first, so a value is never
    replaced again (``my-app`` inside an already written ``ghcr.io/acme/my-app``)."""
    # Unchanged keys stay in the pattern: a kept ``ghcr.io/org/my-app`` must not have its
    # ``org/my-app`` replaced as a repository.
    if all(old == new for old, new in replacements.items()):
        return text
    pattern = re.compile("|".join(re.escape(old) for old in sorted(replacements, key=len, reverse=True)))
    return pattern.sub(lambda match: replacements[match.group(0)], text)


def render_config_repo(text: str, values: ConfigRepoValues) -> str:
    owner, _, name = TEMPLATE_CONFIG_REPOSITORY.partition("/")
    new_owner, _, new_name = values.config_repository.partition("/")
    # The repoURLs (https://github.com/org/config-repo.git) hold the owner/name: replaced with it.
    return substitute(
        text,
        {
            TEMPLATE_IMAGE: values.image,
            TEMPLATE_REPOSITORY: values.repository,
            TEMPLATE_APP: values.app,
            TEMPLATE_CONFIG_REPOSITORY: values.config_repository,
            _EVENTSOURCE_REPOSITORY.format(owner=owner, name=name): _EVENTSOURCE_REPOSITORY.format(
                owner=new_owner, name=new_name
            ),
        },
    )


# -- the source repository's dispatch workflow ---------------------------------------------------

SOURCE_WORKFLOW = ".github/workflows/update-release-channel.yml"
_TRIGGERS = '    branches: [main, staging, production]\n    tags: ["v*"]\n'
_MAP_HEAD = "          channel-map: |\n"
_CONTAINER = '          CONTAINER: ""\n'
_IMAGE_LINE = '          IMAGE: ""\n'
_CONFIG_REPOSITORY = "          repository: ${{ vars.CONFIG_REPOSITORY }}\n"


def push_triggers(mapping: ChannelMap, field: str = "channel-map") -> tuple[list[str], list[str]]:
    """The ``on.push`` branch and tag filters that start the workflow for every mapped ref.

    Only ``refs/heads/…`` and ``refs/tags/…`` patterns can be pushed; the globs are written as
    they are (``**`` crosses ``/`` in both the map and GitHub's filters).
    """
    branches: list[str] = []
    tags: list[str] = []
    for pattern, _channel in mapping:
        if pattern.startswith("refs/heads/") and len(pattern) > len("refs/heads/"):
            target = branches
            name = pattern[len("refs/heads/") :]
        elif pattern.startswith("refs/tags/") and len(pattern) > len("refs/tags/"):
            target = tags
            name = pattern[len("refs/tags/") :]
        else:
            raise InputError(
                field,
                f"pattern {show(pattern)} is not a branch or tag ref, so no push starts the workflow",
                fix="map refs/heads/<branch glob> or refs/tags/<tag glob>, e.g. refs/heads/main=dev",
            )
        if _EXPRESSION_UNSAFE.search(pattern):
            raise InputError(
                field,
                f"pattern {show(pattern)} contains $, {{, }}, a quote or a backslash: init writes it "
                "into the workflow's with: channel-map:, where GitHub would evaluate ${{ }}",
                fix="use a plain ref glob, e.g. refs/heads/release/*=stage",
            )
        if _TRIGGER_UNSAFE.search(name):
            raise InputError(
                field,
                f"pattern {show(pattern)} uses ?, +, ! or [ ], which GitHub's branch and tag filters "
                "read differently from the channel map",
                fix="use * (within one path segment) and ** (across '/') only",
            )
        if name not in target:
            target.append(name)
    return branches, tags


def _flow_list(items: Sequence[str]) -> str:
    """A YAML flow sequence; a glob is quoted (``*`` cannot start a plain scalar)."""
    return (
        "["
        + ", ".join(item if re.fullmatch(r"[A-Za-z0-9._/-]+", item) else json.dumps(item) for item in items)
        + "]"
    )


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:  # the template changed under init: a bug the tests catch
        raise RuntimeError(f"{SOURCE_WORKFLOW} template: expected {old!r} exactly once")
    return text.replace(old, new)


def render_source_workflow(text: str, values: SourceRepoValues) -> str:
    branches, tags = push_triggers(values.channel_map)
    triggers = "".join(
        [
            f"    branches: {_flow_list(branches)}\n" if branches else "",
            f"    tags: {_flow_list(tags)}\n" if tags else "",
        ]
    )
    text = _replace_once(text, _TRIGGERS, triggers)
    start = text.index(_MAP_HEAD) + len(_MAP_HEAD) if text.count(_MAP_HEAD) == 1 else -1
    if start < 0:
        raise RuntimeError(f"{SOURCE_WORKFLOW} template: expected {_MAP_HEAD!r} exactly once")
    end = start
    while text.startswith("            ", end):  # the block scalar's lines
        end = text.index("\n", end) + 1
    entries = "".join(f"            {pattern}={channel}\n" for pattern, channel in values.channel_map)
    text = text[:start] + entries + text[end:]
    if values.app is not None:
        text = _replace_once(text, _CONTAINER, f"          CONTAINER: {values.app}\n")
    if values.image is not None:
        text = _replace_once(text, _IMAGE_LINE, f"          IMAGE: {values.image}\n")
    if values.config_repository is not None:
        text = _replace_once(text, _CONFIG_REPOSITORY, f"          repository: {values.config_repository}\n")
    return text


def render_source_repo(path: str, text: str, values: SourceRepoValues) -> str:
    return render_source_workflow(text, values) if path == SOURCE_WORKFLOW else text


# -- the plan -------------------------------------------------------------------------------------

CREATE, UNCHANGED, DIFFERS = "create", "unchanged", "differs"


@dataclass(frozen=True)
class FilePlan:
    path: str  # relative, POSIX
    action: str  # CREATE, UNCHANGED or DIFFERS


def normalize_newlines(text: str) -> str:
    """CRLF as LF: git on Windows (core.autocrlf=true) checks the files init wrote out with CRLF."""
    return text.replace("\r\n", "\n")


def plan_files(desired: Mapping[str, str], existing: Mapping[str, str | None]) -> list[FilePlan]:
    """What each desired file needs, in path order: absent -> create, same text -> unchanged,
    other text -> differs (written only with --force). A file that differs only in CRLF line
    endings is unchanged (a Windows checkout of what init wrote) and is left as it is."""
    plans = []
    for path in sorted(desired):
        current = existing.get(path)
        if current is None:
            action = CREATE
        elif normalize_newlines(current) == normalize_newlines(desired[path]):
            action = UNCHANGED
        else:
            action = DIFFERS
        plans.append(FilePlan(path, action))
    return plans


# -- what to do next ------------------------------------------------------------------------------


def placeholder_warnings(values: ConfigRepoValues) -> list[str]:
    """One line per input left at its template placeholder: what the written files would then
    name, and the flag to pass (the defaults write the templates, which point nowhere real)."""
    warnings = []
    if values.repository == TEMPLATE_REPOSITORY:
        warnings.append(
            f"--repository is the placeholder {TEMPLATE_REPOSITORY}: the policy lets only "
            f"{TEMPLATE_REPOSITORY} release, and the app and image default from it; pass --repository "
            "<owner/name of your source repository>"
        )
    if values.config_repository == TEMPLATE_CONFIG_REPOSITORY:
        warnings.append(
            f"--config-repository is the placeholder {TEMPLATE_CONFIG_REPOSITORY}: the Argo CD "
            f"Applications and AppProject would read https://github.com/{TEMPLATE_CONFIG_REPOSITORY}.git "
            "(so would the Argo Workflows app, webhook and hook); pass --config-repository "
            "<owner/name of this config repository>"
        )
    return warnings


def config_repo_next_steps(values: ConfigRepoValues, directory: str) -> list[str]:
    # Never hand the placeholder on to the source repository as if it were this repository.
    config_repository = (
        "<owner/name of this config repository>"
        if values.config_repository == TEMPLATE_CONFIG_REPOSITORY
        else values.config_repository
    )
    return [
        f"Commit {directory} and push it to GitHub as the config repository (default branch main).",
        "Settings > Actions > General > Workflow permissions: allow GitHub Actions to create and approve "
        "pull requests (promote.yml and auto-promote.yml open promotion pull requests).",
        "Repository variable ARGOCD_SERVER (the Argo CD API host) and repository secret ARGOCD_TOKEN = "
        f"'argocd proj role create-token {values.app} ci' (the AppProject's read-only ci role: "
        "await-argocd-sync.yml waits for dev and stage with it and syncs nothing).",
        "Optional secret PROMOTION_TOKEN (a GitHub App installation token or fine-grained PAT with "
        "Contents: write and Pull requests: write on this repository): pull requests opened with the "
        "default GITHUB_TOKEN do not start other workflows (their checks).",
        'Create the GitHub environment "prod" with required reviewers (the manual prod sync runs in it) '
        f"and give it its own secret ARGOCD_TOKEN = 'argocd proj role create-token {values.app} ops': only "
        f"the ops role may sync {values.app}-prod, and the prod job gets this token instead of the "
        "repository's.",
        f"Argo CD: one Application per environment named {values.app}-dev, {values.app}-stage and "
        f"{values.app}-prod, pointing at infra/argocd/overlays/<env> of this repository "
        "(dev and stage auto-sync, prod manual), with their AppProject, notifications and alerts: "
        "kubectl apply -n argocd -k infra/argocd-apps (leave prometheusrule.yaml out without "
        "prometheus-operator; AppProject roles name the SSO groups org:developers and org:ops: "
        "edit them).",
        "Argo Workflows (release-data-prep in the cluster): kubectl create namespace argo-workflows; "
        "create the Secret release-data-prep-github-app in it (kubectl -n argo-workflows create secret "
        "generic ..., keys app-id, private-key.pem, workflows-url (your Argo Workflows UI) and api-url for "
        "GitHub Enterprise Server: a GitHub "
        "App with Commit statuses: write and Deployments: write on this repository), then kubectl "
        "apply -n argocd -f infra/argo-workflows/appproject.yaml -f infra/argo-workflows/application.yaml "
        "(optional: the Argo Events webhook route in infra/argo-workflows/events/; docs/argo-workflows.md).",
        # The same container and image the policy lists: a bare init source-repo would dispatch
        # the repository's name, which update-db refuses when --app differs from it.
        f"In {values.repository}: run 'gitops-release init source-repo --app {values.app} --image "
        f"{values.image} --config-repository {config_repository}' and give it the secret "
        "RELEASE_DISPATCH_TOKEN (contents: write on this repository).",
        "Check the result: gitops-release db validate (db/db.json and .gitops-release.yml).",
    ]


def source_repo_next_steps(values: SourceRepoValues, directory: str) -> list[str]:
    steps = [f"Commit {directory}/{SOURCE_WORKFLOW} and push it to the source repository."]
    if values.config_repository is None:
        steps.append(
            "Repository variable CONFIG_REPOSITORY: the config repository's owner/name "
            "(gh variable set CONFIG_REPOSITORY --body my-org/my-config)."
        )
    steps += [
        "Secret RELEASE_DISPATCH_TOKEN: a GitHub App installation token or fine-grained PAT with "
        "Contents: write on the config repository only (gh secret set RELEASE_DISPATCH_TOKEN); "
        "the workflow's GITHUB_TOKEN cannot dispatch to another repository.",
        "Workflow permissions: the build job pushes to ghcr.io with GITHUB_TOKEN (packages: write).",
        "In the config repository's .gitops-release.yml, list this repository under sources with its "
        "containers and images, or update-db refuses its releases.",
        "Try it without sending anything: gitops-release dispatch-update --dry-run ... "
        "(docs/init.md, 'test-dispatch.sh').",
    ]
    return steps


__all__ = [
    "CREATE",
    "DIFFERS",
    "UNCHANGED",
    "ConfigRepoValues",
    "FilePlan",
    "SourceRepoValues",
    "check_app",
    "check_image",
    "check_repository",
    "config_repo_next_steps",
    "default_app",
    "default_image",
    "placeholder_warnings",
    "plan_files",
    "push_triggers",
    "render_config_repo",
    "render_source_repo",
    "source_repo_next_steps",
    "substitute",
]
