"""``gitops-release promote-overlay``: promote the same image dev → stage → prod, by PR or commit.

Flow (docs/promote-overlay.md):

1. ``Inputs.from_reader`` validates every input before anything is touched.
2. *Plan* on the remote base branch as it is now: the base is fetched into the checkout's object
   store and checked out into a temporary worktree (the job's checkout is left as it is); every
   env's images are read there (adapters/layout), the plan is made (core/promotion:
   promotion, pin, or the inverse of the last promotion commit for ``revert``) and every gate
   runs: order, mutable tags, required digests, and ``require-status`` / ``soak-time`` asked of
   GitHub. A refusal stops here: nothing pushed, no PR.
3. *Write* with the fetch/re-apply/retry loop (``commit_and_push`` for mode commit,
   ``push_branch`` to ``plan.branch()`` for mode pr): on every attempt the PLANNED change is
   re-applied to a fresh checkout of the base. A target entry that moved since the plan was made
   is a conflicting concurrent promotion (refused); a change elsewhere (another env) is kept.
   Before the commit leaves the machine: the YAML-level check (each edited file holds exactly the
   planned images, nothing else of ``images:`` changed), no private-key block in a written file,
   and the render invariant: every touched overlay rendered with real kustomize before and after
   the edit (all of them in one kustomize run), only the planned containers' images changed,
   each promoted image rendered as planned, no Secret with data, no private key in any rendered
   string (as YAML decodes it). release-manifest.json is
   written beside each touched env overlay in the same commit.
4. Mode pr: the PR is opened or updated (never a second one); an open promotion PR for the same
   env with another plan is closed with a comment pointing to the new one (``supersede: close``)
   or left open (``keep``).

``dry-run`` prints the plan and the unified diff of the checkout as it is and writes nothing;
``verify`` checks a pull request that edits overlays by hand against the same gates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gitops_release.adapters import layout
from gitops_release.adapters.background import Background
from gitops_release.adapters.git import (
    CommitInfo,
    Git,
    commit_and_push,
    fetch_branch,
    has_credentials,
    log_paths,
    push_branch,
    revert_into_tree,
    show_file,
)
from gitops_release.adapters.kustomize import render, rendered_resources, require_kubectl
from gitops_release.commands.base import Context
from gitops_release.commands.update_db import DEFAULT_MAX_WAIT, MAX_BACKOFF, default_branch, resolve_remote
from gitops_release.core import promotion
from gitops_release.core.overlay import get_images, set_image_entry
from gitops_release.core.policy import Policy, load_policy
from gitops_release.core.promotion import ImageState, PlanItem, PromotionPlan, Target
from gitops_release.core.render_check import (
    ImageRef,
    RenderedResource,
    check_render_diff,
    check_rendered,
    repository,
)
from gitops_release.core.secrets import string_key_findings
from gitops_release.core.values import get_value, set_values
from gitops_release.errors import ConfigError, GitError, InputError, PolicyError, ReleaseError
from gitops_release.runtime import Console, InputReader, InputSpec, parse_relative_path

MODES = ("pr", "commit", "dry-run", "verify")
STRATEGIES = ("overlay", "branch")
SUPERSEDE = ("close", "keep")
# The trailer every promotion commit carries: revert finds the last one by it.
TRAILER = "Gitops-Release-Promotion"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The annotation the combined render gives each overlay's documents: which overlay it came from.
_ANNOTATION = "gitops-release.internal/render-overlay"
_OWNER = re.compile(r"^\s+" + re.escape(_ANNOTATION) + r": \"?r(\d+)\"?\s*$", re.M)

INPUTS: tuple[InputSpec, ...] = (
    InputSpec(
        "from-env", "the env to promote from (its images go to to-env); not with tag, digest or revert"
    ),
    InputSpec("to-env", "the env to promote to (required unless mode is verify)"),
    InputSpec(
        "images",
        "images to promote (names, newNames or last path components; globs); default: every image of "
        "from-env",
        kind="list",
        default=(),
    ),
    InputSpec("tag", "pin this tag in to-env (rollback or hotfix) instead of promoting from an env"),
    InputSpec("digest", "pin this digest (sha256:…) in to-env, with or without tag"),
    InputSpec(
        "revert",
        "roll to-env back by reverting the last promotion commit that touched its overlays",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "mode",
        "pr: open or update a pull request; commit: push to the base branch; dry-run: print the plan "
        "and the diff; verify: check a pull request's hand edits",
        default="pr",
        choices=MODES,
    ),
    InputSpec(
        "strategy",
        "overlay: edit to-env's overlays; branch: a PR from from-env's branch to to-env's "
        "(policy promotion.branches)",
        default="overlay",
        choices=STRATEGIES,
    ),
    InputSpec("base-branch", "the branch promotions go to (default: the remote's default branch)"),
    InputSpec("policy-path", "policy file inside the checkout", default=".gitops-release.yml"),
    InputSpec(
        "overlays-dir", "overlays directory (overrides the policy's overlays.dir; * = one app per match)"
    ),
    InputSpec("repository-path", "the config repo checkout", default="."),
    InputSpec("remote", "remote to fetch from and push to: name, URL or path (default origin)"),
    InputSpec("repository", "owner/name of the config repo on GitHub (default GITHUB_REPOSITORY)"),
    InputSpec("token", "token for git and the GitHub API (sent as a header, never in a URL)", secret=True),
    InputSpec("labels", "labels of the pull request (added to the policy's)", kind="list", default=()),
    InputSpec("reviewers", "reviewers to request (added to the policy's)", kind="list", default=()),
    InputSpec("team-reviewers", "team reviewers to request (added to the policy's)", kind="list", default=()),
    InputSpec("draft", "open the pull request as a draft", kind="bool", default=False),
    InputSpec(
        "add-missing", "add an image to-env does not list yet (else refused)", kind="bool", default=False
    ),
    InputSpec(
        "allow-skip", "allow promoting past the next env in order (dev → prod)", kind="bool", default=False
    ),
    InputSpec(
        "render-check",
        "render every touched overlay with kubectl kustomize before and after the edit and refuse "
        "anything but the planned image changes; false for overlays that cannot render where the "
        "job runs (the YAML-level check still runs)",
        kind="bool",
        default=True,
    ),
    InputSpec(
        "require-status",
        "none, deployment (from-env's latest GitHub deployment, of a commit that contains from-env's "
        "overlay commit) or a commit status context on from-env's overlay commit: must be success "
        "(policy promotion.environments is the floor)",
        default="none",
    ),
    InputSpec(
        "soak-time",
        "from-env's status must be at least this old, e.g. 2h (policy soakTime is the floor)",
        kind="duration",
    ),
    InputSpec(
        "supersede",
        "an open promotion PR to the same env with another plan: close it with a comment pointing "
        "to the new one, or keep it open",
        default="close",
        choices=SUPERSEDE,
    ),
    InputSpec(
        "if-not-ready",
        "fail, or skip (exit 0, state no-change, a notice) when require-status / soak-time do not "
        "hold yet (scheduled auto-promotion)",
        default="fail",
        choices=("fail", "skip"),
    ),
    InputSpec(
        "hold-after-rollback",
        "leave out of the plan (a notice each) every image whose last change in to-env is a "
        "rollback, until a person promotes that image again; all held: state no-change "
        "(auto-promotion)",
        kind="bool",
        default=False,
    ),
    InputSpec("verify-base", "mode verify: the ref the PR is compared with (default origin/<base-branch>)"),
    InputSpec(
        "max-attempts",
        "also stop after this many fetch/re-apply/push attempts",
        kind="int",
        minimum=1,
        maximum=1000,
    ),
    InputSpec(
        "max-wait",
        "how long to keep re-applying and pushing while others move the branch, e.g. 10m",
        kind="duration",
        default=DEFAULT_MAX_WAIT,
    ),
)


def _branch_name(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw.startswith("-") or any(ord(ch) <= 32 or ord(ch) == 127 for ch in raw) or ".." in raw:
        raise InputError(name, f"'{raw}' is not a branch name", fix="give a branch name like main")
    return raw


def _env_name(name: str, raw: str | None) -> str | None:
    if raw is not None and not _ENV.match(raw):
        raise InputError(
            name, f"'{raw}' is not an environment name", fix="give an env of the policy, e.g. stage"
        )
    return raw


def _relative(name: str, raw: str | None, *, example: str) -> str | None:
    return None if raw is None else parse_relative_path(name, raw, example=example, allow_root=True)


@dataclass(frozen=True)
class Inputs:
    to_env: str | None = None
    from_env: str | None = None
    images: tuple[str, ...] = ()
    tag: str | None = None
    digest: str | None = None
    revert: bool = False
    mode: str = "pr"
    strategy: str = "overlay"
    base_branch: str | None = None
    policy_path: str = ".gitops-release.yml"
    overlays_dir: str | None = None
    repository_path: str = "."
    remote: str | None = None
    repository: str | None = None
    token: str | None = field(default=None, repr=False)
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    draft: bool = False
    add_missing: bool = False
    allow_skip: bool = False
    render_check: bool = True
    require_status: str | None = None
    soak_time: float | None = None
    supersede: str = "close"
    if_not_ready: str = "fail"
    hold_after_rollback: bool = False
    verify_base: str | None = None
    max_attempts: int | None = None
    max_wait: float = DEFAULT_MAX_WAIT

    @property
    def pinned(self) -> bool:
        return self.tag is not None or self.digest is not None

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        v = {spec.name: reader.get(spec) for spec in INPUTS}
        mode, strategy = v["mode"], v["strategy"]
        to_env = _env_name("to-env", v["to-env"])
        from_env = _env_name("from-env", v["from-env"])
        tag, digest, revert = v["tag"], v["digest"], v["revert"]
        if mode != "verify" and to_env is None:
            raise InputError("to-env", "is required", fix="name the env to promote to, e.g. to-env: stage")
        if tag is not None and not _TAG.match(tag):
            raise InputError(
                "tag", f"'{tag}' is not an image tag", fix="give a tag like sha-abc1234 or v1.2.3"
            )
        if digest is not None and not _DIGEST.match(digest):
            raise InputError("digest", f"'{digest}' is not a digest", fix="give sha256: and 64 hex digits")
        pinned = tag is not None or digest is not None
        if revert and (pinned or from_env is not None):
            raise InputError(
                "revert",
                "is true together with " + ("tag/digest" if pinned else "from-env"),
                fix="revert undoes the last promotion into to-env: give only to-env (or pin with tag/digest)",
            )
        if from_env is not None and from_env == to_env:
            raise InputError(
                "to-env", f"is the same env as from-env ({to_env})", fix="promote to another env"
            )
        if pinned and from_env is not None:
            raise InputError(
                "from-env",
                "is given together with tag/digest: a pin takes the version from tag/digest, not from an env",
                fix="drop from-env to pin, or drop tag/digest to promote from from-env",
            )
        if strategy == "branch" and mode == "dry-run":
            raise InputError(
                "mode",
                "dry-run with strategy branch: the dry run reads the checkout, not the env branches",
                fix="use mode: pr with strategy: branch (its plan is in the PR body), or strategy: overlay",
            )
        repository = v["repository"] or reader.env.get("GITHUB_REPOSITORY") or None
        if repository is not None and not _REPOSITORY.match(repository):
            raise InputError(
                "repository", f"'{repository}' is not owner/name", fix="give owner/name, e.g. org/config"
            )
        require_status = v["require-status"]
        if require_status is not None and (require_status == "none" or not require_status.strip()):
            require_status = None
        if require_status is not None and any(ord(ch) < 32 for ch in require_status):
            raise InputError(
                "require-status", "contains control characters", fix="give none, deployment or a context"
            )
        remote = v["remote"]
        if remote is not None and remote.startswith("-"):
            raise InputError("remote", f"'{remote}' is not a remote", fix="give a remote name, URL or path")
        if remote is not None and has_credentials(remote):
            raise InputError(
                "remote",
                "is a URL with credentials in it",
                fix="remove them from the URL and give the token in the token input",
            )
        for name in ("labels", "reviewers", "team-reviewers", "images"):
            for item in v[name]:
                if any(ord(ch) < 32 for ch in item) or len(item) > 256:
                    raise InputError(name, f"item {item[:40]!r} is not a name", fix="give plain names")
        return cls(
            to_env=to_env,
            from_env=from_env,
            images=tuple(v["images"]),
            tag=tag,
            digest=digest,
            revert=revert,
            mode=mode,
            strategy=strategy,
            base_branch=_branch_name("base-branch", v["base-branch"]),
            policy_path=_relative("policy-path", v["policy-path"], example=".gitops-release.yml")
            or ".gitops-release.yml",
            overlays_dir=_relative("overlays-dir", v["overlays-dir"], example="infra/argocd/overlays"),
            repository_path=v["repository-path"],
            remote=remote,
            repository=repository,
            token=v["token"],
            labels=tuple(v["labels"]),
            reviewers=tuple(v["reviewers"]),
            team_reviewers=tuple(v["team-reviewers"]),
            draft=v["draft"],
            add_missing=v["add-missing"],
            allow_skip=v["allow-skip"],
            render_check=v["render-check"],
            require_status=require_status,
            soak_time=v["soak-time"],
            supersede=v["supersede"],
            if_not_ready=v["if-not-ready"],
            hold_after_rollback=v["hold-after-rollback"],
            verify_base=_branch_name("verify-base", v["verify-base"]),
            max_attempts=v["max-attempts"],
            max_wait=v["max-wait"],
        )


# -- outputs -----------------------------------------------------------------------------------


@dataclass
class Outputs:
    changed: bool = False
    state: str = "no-change"
    pr_number: int | None = None
    pr_url: str = ""
    commit_sha: str = ""
    promoted: list[dict[str, Any]] = field(default_factory=list)
    release_manifest: list[str] = field(default_factory=list)
    # Not outputs: for the summary and the terminal report.
    plans: list[PromotionPlan] = field(default_factory=list)
    mermaid: str = ""
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    # The plan went to the log already (before pushing): the report does not print it again.
    plan_logged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "state": self.state,
            "pr-number": "" if self.pr_number is None else self.pr_number,
            "pr-url": self.pr_url,
            "commit-sha": self.commit_sha,
            "promoted": self.promoted,
            "release-manifest": self.release_manifest[0] if self.release_manifest else "",
        }

    def summary(self) -> str:
        lines = ["### promote-overlay", ""]
        for plan in self.plans:
            lines += [promotion.plan_table(plan).rstrip("\n"), ""]
        if not any(plan.items for plan in self.plans):
            lines += ["Nothing to promote: the target already runs the planned images.", ""]
        if self.mermaid:
            lines += ["```mermaid", self.mermaid.rstrip("\n"), "```", ""]
        state = f"State: **{self.state}**"
        if self.pr_url:
            state += f", pull request [#{self.pr_number}]({self.pr_url})"
        if self.commit_sha:
            state += f", commit `{self.commit_sha}`"
        lines.append(state + ".")
        lines += [f"- {note}" for note in self.notes]
        if self.diff:
            fence = "`" * max(3, _longest_backticks(self.diff) + 1)
            lines += ["", f"{fence}diff", self.diff.rstrip("\n"), fence]
        return "\n".join(lines) + "\n"

    def report(self) -> str:
        lines = [] if self.plan_logged else [promotion.plan_text(plan).rstrip("\n") for plan in self.plans]
        lines.append(f"state: {self.state}")
        if self.pr_url:
            lines.append(f"pull request: #{self.pr_number} {self.pr_url}")
        if self.commit_sha:
            lines.append(f"commit: {self.commit_sha}")
        lines += self.notes
        if self.diff:
            lines += ["", self.diff.rstrip("\n")]
        return "\n".join(lines)


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


# -- reading the envs --------------------------------------------------------------------------


@dataclass
class _Tree:
    """One tree the plan is made on: the policy, the overlays pattern and every env read there."""

    root: Path
    policy: Policy
    pattern: str
    envs: dict[str, layout.EnvFiles]


def _policy(root: Path, inputs: Inputs) -> Policy:
    text = layout.read_file(root, inputs.policy_path, "policy-path")
    return load_policy(text, path=inputs.policy_path)


def _check_env(policy: Policy, name: str, env: str | None) -> None:
    if env is not None and env not in policy.channels:
        raise InputError(
            name,
            f"'{env}' is not an env of the policy ({', '.join(policy.channels)})",
            fix="use one of them, or add it to channels in the policy",
        )


def read_tree(
    root: Path,
    inputs: Inputs,
    *,
    required: Sequence[str],
    policy: Policy | None = None,
    envs: Sequence[str] | None = None,
) -> _Tree:
    """The policy (unless given) and the images of every env (or of ``envs``) under ``root``;
    the ``required`` envs must exist."""
    policy = policy or _policy(root, inputs)
    _check_env(policy, "to-env", inputs.to_env)
    _check_env(policy, "from-env", inputs.from_env)
    pattern = layout.overlays_dir(policy, inputs.overlays_dir)
    found = {
        env: layout.read_env(root, policy, env, pattern=pattern, required=env in required)
        for env in policy.channels
        if envs is None or env in envs
    }
    return _Tree(root, policy, pattern, found)


# -- the plan ----------------------------------------------------------------------------------


def make_plan(tree: _Tree, inputs: Inputs) -> PromotionPlan:
    """The promotion or pin ``inputs`` ask for, on ``tree`` (revert: see revert_plan)."""
    assert inputs.to_env is not None
    target = tree.envs[inputs.to_env].state
    if inputs.pinned:
        rollback = _is_rollback(target, inputs)
        return promotion.plan_pin(
            target,
            to_env=inputs.to_env,
            images=inputs.images,
            tag=inputs.tag,
            digest=inputs.digest,
            rollback=rollback,
        )
    assert inputs.from_env is not None
    env_files = tree.envs[inputs.to_env]
    return promotion.plan_promotion(
        tree.envs[inputs.from_env].state,
        target,
        from_env=inputs.from_env,
        to_env=inputs.to_env,
        images=inputs.images,
        add_missing=inputs.add_missing,
        target_files={
            app: Target(app=app, file=file, kind="kustomize")
            for app, file in env_files.overlay_file_of.items()
        },
    )


def _is_rollback(target: Mapping[tuple[str, str], tuple[Target, ImageState]], inputs: Inputs) -> bool:
    """A pin is a rollback (labelled so) unless its tag is a higher version than every tag it
    replaces (a hotfix forward)."""
    from gitops_release.core.tags import compare_versions

    if inputs.tag is None:
        return True
    keys = promotion.select_images(target, inputs.images) if inputs.images else set(target)
    tags = [target[key][1].new_tag for key in keys if target[key][1].new_tag]
    return not tags or not all(compare_versions(old, inputs.tag) == 1 for old in tags if old)


def diff_plan(
    before: Mapping[tuple[str, str], tuple[Target, ImageState]],
    after: Mapping[tuple[str, str], tuple[Target, ImageState]],
    *,
    from_env: str | None,
    to_env: str,
    kind: str,
    what: str,
) -> PromotionPlan:
    """The plan that turns env state ``before`` into ``after`` (revert, verify, strategy branch).
    An entry ``after`` no longer has is refused: a promotion never removes an image."""
    items: list[PlanItem] = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            target, state = before[key]
            raise PolicyError(
                f"{what} removes image {state.name} from {target.file}",
                fix="a promotion never removes an image: remove it by hand in its own pull request",
            )
        target, state = after[key]
        was = before.get(key)
        if was is not None and was[1] == state:
            continue
        items.append(
            PlanItem(
                app=key[0], image=key[1], target=target, before=None if was is None else was[1], after=state
            )
        )
    items.sort(key=lambda item: (item.app, item.image, item.target.file))
    return PromotionPlan(from_env=from_env, to_env=to_env, kind=kind, items=tuple(items))  # type: ignore[arg-type]


# -- gates -------------------------------------------------------------------------------------


def check_all_gates(
    plan: PromotionPlan,
    policy: Policy,
    inputs: Inputs,
    *,
    status: Callable[[], list[str]] | None = None,
    extra: Sequence[str] = (),
) -> None:
    """Every gate, one PolicyError with every reason: order, mutable tags, digests (check_gates),
    then ``status()`` (require-status / soak-time) and ``extra`` reasons."""
    reasons: list[str] = []
    fixes: list[str] = []
    try:
        promotion.check_gates(plan, policy, allow_skip=inputs.allow_skip)
    except PolicyError as exc:
        reasons.append(exc.message)
        if exc.fix:
            fixes.append(exc.fix)
    if status is not None and plan.items:
        reasons += status()
    reasons += extra
    if reasons:
        raise PolicyError("; ".join(reasons), fix="; ".join(fixes) or None)


def status_rules(policy: Policy, inputs: Inputs, to_env: str) -> tuple[list[str], float | None]:
    """The statuses to require and the soak time: the inputs, never below the policy's floor."""
    rules = policy.promotion.get(to_env)
    required: list[str] = []
    for value in (rules.require_status if rules else None, inputs.require_status):
        if value and value not in required:
            required.append(value)
    soaks = [s for s in (rules.soak_time if rules else None, inputs.soak_time) if s]
    soak = max(soaks) if soaks else None
    if soak and not required:
        required.append("deployment")  # a soak time is measured on the source env's deployment
    return required, soak


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# -- rendering ---------------------------------------------------------------------------------


@dataclass
class _Render:
    resources: list[RenderedResource]
    secrets: list[dict[str, Any]]
    keys: list[str] = field(default_factory=list)  # private-key findings in the render's strings


def _secret_docs(text: str) -> list[dict[str, Any]]:
    """The rendered documents of kind Secret (only those are parsed: the render can be large)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[dict[str, Any]] = []
    for doc in re.split(r"(?m)^---[ \t]*$", text):
        if "Secret" not in doc:
            continue
        with contextlib.suppress(yaml.YAMLError):
            data = yaml.load(doc, Loader=loader)  # noqa: S506 - a SafeLoader; kustomize writes no aliases
            if isinstance(data, dict) and data.get("kind") == "Secret":
                found.append(data)
    return found


def _rendered_keys(text: str, shown: str) -> list[str]:
    """Private keys in any string of the render, as YAML decodes it: a key in a ConfigMap written
    as a YAML escape (``"\\x2D----BEGIN …"``) or a folded scalar is not in the raw text of any
    file, but kustomize renders it whole. Read as a stream of events, like rendered_resources
    (which refuses an unreadable render: such a one is not searched here)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    values: list[str] = []
    with contextlib.suppress(yaml.YAMLError):
        values = [
            event.value for event in yaml.parse(text, Loader=loader) if isinstance(event, yaml.ScalarEvent)
        ]
    return string_key_findings(values, shown=shown)


def _render_one(root: Path, rel: str, *, kubectl: Path, env: Mapping[str, str]) -> _Render:
    text = render(root / rel, binary=kubectl, shown=rel, env=env)
    return _Render(rendered_resources(text, shown=rel), _secret_docs(text), _rendered_keys(text, rel))


def _render_combined(
    root: Path, rels: Sequence[str], *, kubectl: Path, env: Mapping[str, str]
) -> dict[str, _Render] | None:
    """Every overlay of ``rels`` in ONE kustomize run (kubectl's start-up is most of a small
    render): a temporary kustomization wraps each overlay with a ``commonAnnotations`` entry
    naming it, so each rendered document tells which overlay it came from, and a ``namePrefix``
    (taken off again) so two apps' equal resource names (a generated ConfigMap) do not collide.
    None when that does not work (a render error, a document without the annotation): the
    caller renders them one by one for a precise error. Renders made this way are compared
    only with renders made this way (the annotation and prefix are in them)."""
    with tempfile.TemporaryDirectory(prefix="gitops-release-render-") as tmp:
        top = Path(tmp)
        lines = ["resources:"]
        for index, rel in enumerate(rels):
            wrapper = top / f"w{index}"
            wrapper.mkdir()
            target = os.path.relpath(root / rel, wrapper)
            (wrapper / "kustomization.yaml").write_text(
                f"resources:\n  - {_yaml_str(target)}\nnamePrefix: r{index}-\n"
                f"commonAnnotations:\n  {_ANNOTATION}: r{index}\n",
                encoding="utf-8",
            )
            lines.append(f"  - w{index}")
        (top / "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            text = render(top, binary=kubectl, shown="the touched overlays", env=env)
        except ConfigError:
            return None
    docs: dict[int, list[str]] = {index: [] for index in range(len(rels))}
    for doc in re.split(r"(?m)^---[ \t]*\n", text):
        if not doc.strip():
            continue
        match = _OWNER.search(doc)
        if match is None or int(match.group(1)) >= len(rels):
            return None
        docs[int(match.group(1))].append(doc)
    result: dict[str, _Render] = {}
    for index, rel in enumerate(rels):
        own = "---\n".join(docs[index])
        try:
            resources = [_unprefixed(r, f"r{index}-") for r in rendered_resources(own, shown=rel)]
            result[rel] = _Render(resources, _secret_docs(own), _rendered_keys(own, rel))
        except ConfigError:
            return None
    return result


def _unprefixed(resource: RenderedResource, prefix: str) -> RenderedResource:
    """``Kind/r3-name`` -> ``Kind/name`` (kustomize does not prefix every kind: Namespaces stay)."""
    kind, _, name = resource.resource.partition("/")
    if not name.startswith(prefix):
        return resource
    shown = f"{kind}/{name[len(prefix) :]}"
    containers = tuple(dataclasses.replace(c, resource=shown) for c in resource.containers)
    return RenderedResource(shown, containers, resource.digest)


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Renderer:
    """Renders a set of overlays, before and after an edit, the same way both times."""

    def __init__(self, root: Path, rels: Sequence[str], *, kubectl: Path, env: Mapping[str, str]) -> None:
        self.root, self.rels, self.kubectl, self.env = root, sorted(rels), kubectl, env
        self.combined: bool | None = None

    def _one_by_one(self) -> dict[str, _Render]:
        workers = max(1, min(4, os.cpu_count() or 1, len(self.rels)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                rel: pool.submit(_render_one, self.root, rel, kubectl=self.kubectl, env=self.env)
                for rel in self.rels
            }
            # Every render is waited for; the first overlay's error (in path order) is raised.
            return {rel: futures[rel].result() for rel in self.rels}

    def render(self) -> dict[str, _Render]:
        if self.combined is not False and len(self.rels) > 1:
            found = _render_combined(self.root, self.rels, kubectl=self.kubectl, env=self.env)
            if found is not None:
                if self.combined is None:
                    self.combined = True
                return found
            if self.combined:
                # It worked before the edit: the edit broke a render. Name the overlay.
                self._one_by_one()
                raise ConfigError(
                    "kubectl kustomize of the touched overlays together failed after the edit",
                    fix="render each touched overlay with kubectl kustomize and fix the failing one",
                )
        self.combined = False
        return self._one_by_one()


def _wanted(item: PlanItem, rendered: Sequence[str]) -> ImageRef:
    """The reference the render must hold for ``item``: exactly the rendered images whose
    repository is the planned name and whose tag / digest are the planned ones."""
    after = item.after
    name = after.new_name or after.name
    accepted = frozenset(
        image for image in rendered if repository(image) == name and _same_version(image, after)
    )
    return _PlannedRef(
        name, after.new_tag or "", after.digest, container=None, forms=accepted, shown=after.shown()
    )


def _same_version(image: str, after: ImageState) -> bool:
    reference, _, digest = image.partition("@")
    last = reference.rpartition("/")[2]
    tag = last.partition(":")[2] if ":" in last else None
    if after.digest and digest != after.digest:
        return False
    if not after.digest and digest:
        return False
    if after.new_tag and tag is not None and tag != after.new_tag:
        return False
    if after.new_tag and tag is None and not digest:
        return False
    return True


@dataclass(frozen=True)
class _PlannedRef(ImageRef):
    """An ImageRef whose accepted forms were read off the render (see _wanted)."""

    forms: frozenset[str] = frozenset()
    shown: str = ""

    def __str__(self) -> str:
        return self.shown or super().__str__()

    def accepted(self) -> frozenset[str]:
        return self.forms


def check_renders(
    plan: PromotionPlan,
    env_files: layout.EnvFiles,
    before: Mapping[str, _Render] | None,
    after: Mapping[str, _Render],
) -> None:
    """The render invariant for every touched overlay: only the planned containers' images
    changed (``before`` given), each planned image is rendered as planned, no Secret with data."""
    by_dir: dict[str, list[PlanItem]] = {}
    for item in plan.items:
        if item.target.kind == "kustomize":
            by_dir.setdefault(env_files.overlay_dirs[item.target.app], []).append(item)
    for rel in sorted(after):
        images = [c.image for r in after[rel].resources for c in r.containers]
        wanted = [_wanted(item, images) for item in by_dir.get(rel, [])]
        if before is not None:
            check_render_diff(rel, before[rel].resources, after[rel].resources, wanted)
        else:
            check_rendered(rel, images, wanted)
        from gitops_release.core.secrets import secret_findings

        if after[rel].keys:
            raise PolicyError(
                after[rel].keys[0],
                fix="never commit a private key: keep it in a secret store and reference it",
            )
        findings = secret_findings(after[rel].secrets, shown=rel)
        if findings:
            raise PolicyError(
                f"{rel}: {findings[0]}",
                fix="keep secret values out of git (Sealed Secrets, External Secrets, SOPS); render no "
                "Secret with data or stringData",
            )


# -- applying a plan ---------------------------------------------------------------------------


def _conflict(item: PlanItem, now: ImageState | None) -> PolicyError:
    shown = "absent" if now is None else now.shown()
    return PolicyError(
        f"conflicting concurrent promotion: {item.image} in {item.target.file} is now {shown}, not "
        f"{'absent' if item.before is None else item.before.shown()} as when the plan was made; "
        "another promotion changed it",
        fix="re-run the promotion to plan on the new state (nothing was pushed)",
        title="Conflicting concurrent promotion",
    )


def apply_plan(
    plan: PromotionPlan,
    policy: Policy,
    env_files: layout.EnvFiles,
    *,
    cache: dict[tuple[Any, ...], str] | None = None,
    check: bool = True,
) -> tuple[dict[str, str], PromotionPlan]:
    """The new text of every file the plan edits, read from ``env_files`` (the target env as it
    is now), and the part of the plan still to do there. An entry that moved since the plan was
    made (neither its planned before nor after) is a conflicting concurrent promotion."""
    texts: dict[str, str] = {}
    todo: list[PlanItem] = []
    for item in plan.items:
        found = env_files.state.get((item.app, item.image))
        now = None if found is None else found[1]
        if now == item.after:
            continue  # someone else already made this very change
        if now != item.before:
            raise _conflict(item, now)
        todo.append(item)
        file = item.target.file
        text = texts.get(file, env_files.texts.get(file))
        if text is None:
            raise ConfigError(f"{file} is not part of env {plan.to_env}", fix="check the overlays layout")
        after = item.after
        # ``cache``: one run applies the same plan to the same text on every attempt (and pr mode
        # twice): each edit is made once.
        key = (file, text, item.image, after, item.before is None)
        if cache is not None and key in cache:
            texts[file] = cache[key]
            continue
        if item.target.kind == "kustomize":
            texts[file] = set_image_entry(
                text,
                name=item.image,
                new_name=after.new_name,
                new_tag=after.new_tag,
                digest=after.digest,
                add_missing=item.before is None,
                path=file,
            )
        else:
            texts[file] = set_values(
                text,
                layout.values_changes(policy, item.image, after, file=file),
                path=file,
                add_missing=item.before is None,
            )
        if cache is not None:
            cache[key] = texts[file]
    done = dataclasses.replace(plan, items=tuple(todo))
    if check:  # the caller may run check_yaml itself (alongside a render)
        check_yaml(done, policy, env_files, texts)
    return texts, done


def check_yaml(
    plan: PromotionPlan, policy: Policy, env_files: layout.EnvFiles, texts: Mapping[str, str]
) -> None:
    """The YAML-level check of an edit (also with render-check false): each edited file holds
    exactly the planned image states, and nothing else of its images changed."""
    planned = {(item.target.file, item.image): item.after for item in plan.items}
    for file, text in texts.items():
        old = {key[1]: state for key, (target, state) in env_files.state.items() if target.file == file}
        kind = next(t.kind for t, _ in env_files.state.values() if t.file == file) if old else "kustomize"
        if kind == "kustomize":
            new = {
                str(e.get("name")): ImageState(
                    name=str(e.get("name")),
                    new_name=e.get("newName"),
                    new_tag=e.get("newTag"),
                    digest=e.get("digest"),
                )
                for e in layout.parse_images(text, file)
            }
        else:
            new = {}
            for rule in policy.values:
                if rule.files.get(plan.to_env) == file:
                    new[rule.image] = ImageState(
                        name=rule.image,
                        new_name=get_value(text, rule.repository, path=file) if rule.repository else None,
                        new_tag=get_value(text, rule.tag, path=file),
                        digest=get_value(text, rule.digest, path=file) if rule.digest else None,
                    )
        for name in sorted(set(old) | set(new)):
            want = planned.get((file, name), old.get(name))
            if new.get(name) != want:
                got = new.get(name)
                raise ConfigError(
                    f"{file}: after the edit image {name} is {'absent' if got is None else got.shown()}, "
                    f"not {'absent' if want is None else want.shown()} as planned",
                    fix="this is a bug in the overlay edit; report it with the file",
                )


def _app_plan(plan: PromotionPlan, app: str) -> PromotionPlan:
    return dataclasses.replace(plan, items=tuple(item for item in plan.items if item.app == app))


def manifest_texts(
    plan: PromotionPlan,
    env_files: layout.EnvFiles,
    *,
    source_commit: str | None,
    pull_request: int | None,
    promoted_at: str,
    existing: Callable[[str], str | None],
) -> dict[str, str]:
    """release-manifest.json of each app the plan touches (beside its env overlay)."""
    from gitops_release.core import manifest as manifests

    result: dict[str, str] = {}
    planned = {(item.app, item.image): item for item in plan.items}
    for app in sorted({item.app for item in plan.items}):
        path = layout.manifest_path(env_files, app)
        if path is None:
            continue  # values files only: no env directory to put it in
        state_after = {
            key: (target, planned[key].after if key in planned else state)
            for key, (target, state) in env_files.state.items()
            if key[0] == app
        }
        for key, item in planned.items():
            if key[0] == app and key not in state_after:
                state_after[key] = (item.target, item.after)
        existing_text = existing(path)
        built = manifests.build_manifest(
            _app_plan(plan, app),
            state_after,
            env=plan.to_env,
            source_env=plan.from_env,
            source_commit=source_commit,
            pull_request=pull_request,
            promoted_at=promoted_at,
            # the images the plan leaves alone keep where they came from
            previous=manifests.previous_provenance(existing_text),
        )
        result[path] = manifests.render_manifest(built, existing_text)
    return result


def check_written(texts: Mapping[str, str]) -> None:
    from gitops_release.core.secrets import private_key_findings

    for path in sorted(texts):
        findings = private_key_findings(texts[path], shown=path)
        if findings:
            raise PolicyError(
                f"{path}: {findings[0]}",
                fix="never commit a private key: keep it in a secret store and remove it from the file",
            )


def unified_diff(old: Mapping[str, str | None], new: Mapping[str, str]) -> str:
    parts: list[str] = []
    for path in sorted(new):
        before = old.get(path)
        if before == new[path]:
            continue
        parts.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                new[path].splitlines(keepends=True),
                fromfile=f"a/{path}" if before is not None else "/dev/null",
                tofile=f"b/{path}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in parts)


# -- git helpers -------------------------------------------------------------------------------


def _git(checkout: Path, inputs: Inputs, remote: str | None, ctx: Context) -> Git:
    return Git(checkout, token=inputs.token, env=ctx.env, log=_git_log(ctx.console), auth_url=remote)


def _git_log(console: Console) -> Callable[[str], None]:
    def log(line: str) -> None:
        (console.debug if line.startswith("$ ") else console.info)(line)

    return log


def _ensure_clone(git: Git, checkout: Path, remote: str, branch: str) -> None:
    """An empty or missing repository-path is cloned (commit_and_push / push_branch need a clone)."""
    if not checkout.exists() or (checkout.is_dir() and not any(checkout.iterdir())):
        checkout.mkdir(parents=True, exist_ok=True)
        git.run("clone", "--quiet", "--no-tags", "--branch", branch, "--", remote, ".")


def fetch_ref(git: Git, remote: str, branch: str, inputs: Inputs, env: Mapping[str, str]) -> str | None:
    """``branch`` of ``remote`` fetched into the checkout; its sha, None when it does not exist."""
    return fetch_branch(git.cwd, remote, branch, token=inputs.token, env=env)


@contextlib.contextmanager
def worktree(git: Git, commit: str) -> Iterator[Path]:
    """A temporary detached worktree of ``commit``: plans are made there, the job's checkout is
    left as it is."""
    tmp = Path(tempfile.mkdtemp(prefix="gitops-release-plan-"))
    path = tmp / "tree"
    git.run("worktree", "add", "--quiet", "--detach", "--", str(path), commit)
    try:
        yield path
    finally:
        git.run("worktree", "remove", "--force", "--", str(path), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git.run("worktree", "prune", check=False)


@contextlib.contextmanager
def layout_tree(git: Git, commit: str, inputs: Inputs) -> Iterator[Path]:
    """The files the plan reads at ``commit`` (the policy, everything under the overlays dir,
    the values files) written out to a temporary directory through a temporary index: the job's
    checkout and the repository's worktrees are left as they are, and a monorepo's bases and
    other files are not written at all (a full worktree of 200 apps costs seconds)."""
    policy = load_policy(show_file(git, commit, inputs.policy_path), path=inputs.policy_path)
    pattern = layout.overlays_dir(policy, inputs.overlays_dir)
    specs = [f":(literal){inputs.policy_path}", f":(glob){pattern}/**"]
    specs += [f":(literal){path}" for rule in policy.values for path in rule.files.values()]
    tmp = Path(tempfile.mkdtemp(prefix="gitops-release-plan-"))
    tree = tmp / "tree"
    tree.mkdir()
    scratch = Git(git.cwd, env={**git.env, "GIT_INDEX_FILE": str(tmp / "index")})
    try:
        scratch.run("read-tree", commit)
        files = scratch.run("ls-files", "-z", "--", *specs).out
        if files:
            scratch.run("checkout-index", "-z", "--stdin", f"--prefix={tree}/", input=files)
        yield tree
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def last_commit(git: Git, ref: str, paths: Sequence[str]) -> str | None:
    """The last commit on ``ref`` that touched any of ``paths``."""
    if not paths:
        return None
    result = git.run("log", "-1", "--format=%H", ref, "--", *paths, check=False)
    sha = result.out.strip()
    return sha or None


def commit_message(plan: PromotionPlan) -> str:
    return (
        f"{plan.title()}\n\n{promotion.plan_text(plan).rstrip()}\n\n"
        f"{TRAILER}: kind={plan.kind} to={plan.to_env} key={plan.key()}\n"
    )


def _is_promotion(subject: str, body: str) -> bool:
    if re.search(rf"^{TRAILER}: kind=promote\b", body, re.M):
        return True
    if f"{TRAILER}:" in body:
        return False  # one of ours, but a rollback or pin
    return bool(re.match(r"^(chore(\([^)]*\))?: )?promote\b", subject, re.I))


def find_promotion_commit(git: Git, ref: str, paths: Sequence[str], to_env: str) -> str:
    """The last promotion commit on ``ref`` that touched ``paths`` (to-env's overlays)."""
    for info in log_paths(git, paths, ref=ref, max_count=200):
        if len(info.parents) <= 1 and _is_promotion(info.subject, info.body):
            return info.sha
    raise PolicyError(
        f"revert: no promotion commit touched the overlays of {to_env} in the last 200 commits",
        fix="pin the version to roll back to with tag or digest instead",
    )


def revert_into(git: Git, sha: str, paths: Sequence[str]) -> None:
    """The inverse of ``sha`` limited to ``paths`` applied to the work tree; RevertConflictError
    (naming the later commit and the file) when it does not apply cleanly."""
    revert_into_tree(git, sha, paths=list(paths))


# -- the GitHub side ---------------------------------------------------------------------------


class _GitHub:
    """The GitHub API calls of a run, made through one client (created on first use)."""

    def __init__(self, inputs: Inputs, ctx: Context) -> None:
        self.inputs, self.ctx = inputs, ctx
        self._client: Any = None

    @property
    def repository(self) -> str:
        if not self.inputs.repository:
            raise InputError(
                "repository",
                "is needed to talk to GitHub and GITHUB_REPOSITORY is not set",
                fix="set repository: owner/name",
            )
        return self.inputs.repository

    @property
    def client(self) -> Any:
        if self._client is None:
            from gitops_release.adapters.github import GitHubAuth, github_client

            self._client = github_client(
                GitHubAuth(token=self.inputs.token), repository=self.repository, env=self.ctx.env
            )
        return self._client

    def status_reasons(
        self,
        plan: PromotionPlan,
        policy: Policy,
        *,
        source_commit: str | None,
        now: datetime,
        git: Git,
        remote: str | None = None,
        source_files: Sequence[str] = (),
    ) -> list[PolicyError]:
        """require-status / soak-time: every reason the source env is not ready (pins, rollbacks
        and reverts never wait: a rollback must be fast). A deployment counts only when it is of
        a commit that contains ``source_commit`` (the source env's current overlay state) and
        whose ``source_files`` (the source env's overlay / values files and release manifests)
        equal those at ``source_commit``: an older deployment's success says nothing about the
        images about to be promoted, nor does one of another branch (or an ``-s ours`` merge) that
        descends from ``source_commit`` but changed the source env's files."""
        if plan.kind != "promote" or plan.from_env is None:
            return []
        required, soak = status_rules(policy, self.inputs, plan.to_env)
        if not required:
            return []
        from gitops_release.adapters import github as gh

        reasons: list[PolicyError] = []
        for what in required:
            try:
                if what == "deployment":
                    found = gh.latest_deployment(self.client, self.repository, plan.from_env)
                    shown = f"the latest deployment of {plan.from_env}"
                    if found is not None and source_commit:
                        if not contains_commit(git, found.sha, source_commit, remote=remote):
                            raise PolicyError(
                                f"{shown} is of {found.sha[:12]}, which does not contain {plan.from_env}'s "
                                f"current overlay commit {source_commit[:12]}: wait for it to be deployed",
                                fix=f"let {plan.from_env} deploy {source_commit[:12]} (or a later commit) "
                                "and report that deployment, then run again",
                            )
                        differs = differing_file(git, source_commit, found.sha, source_files)
                        if differs is not None:
                            raise PolicyError(
                                f"{shown} is of {found.sha[:12]}, whose {differs} differs from the one "
                                f"at {plan.from_env}'s current overlay commit {source_commit[:12]}: that "
                                f"deployment did not run the state being promoted",
                                fix=f"let {plan.from_env} deploy {source_commit[:12]} (or a later commit "
                                f"with the same {plan.from_env} files) and report that deployment, "
                                "then run again",
                            )
                    state = None if found is None else found.state
                    since = None if found is None else _as_datetime(found.state_at or found.created_at)
                else:
                    status = (
                        gh.commit_status(self.client, self.repository, source_commit, what)
                        if source_commit
                        else None
                    )
                    state = None if status is None else status.state
                    since = None if status is None else _as_datetime(status.updated_at)
                    shown = (
                        f"status {what!r} of {plan.from_env}'s overlay commit {(source_commit or '?')[:12]}"
                    )
                promotion.check_soak(state=state, since=since, now=now, soak=soak, what=shown)
            except PolicyError as exc:
                reasons.append(exc)
        return reasons


_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def contains_commit(git: Git, deployed: str, commit: str, *, remote: str | None = None) -> bool:
    """Whether ``deployed`` (a deployment's sha) is ``commit`` or a descendant of it. The sha is
    fetched from ``remote`` (default origin; ``git`` carries the token as a header) when the
    checkout lacks it; one that cannot be fetched (or is not a sha) contains nothing. Needs the
    history between them (fetch-depth: 0)."""
    if not _SHA.match(deployed) or not _SHA.match(commit):
        return False

    def present() -> bool:
        return git.run("cat-file", "-e", f"{deployed}^{{commit}}", check=False).rc == 0

    if not present():
        git.run("fetch", "--quiet", "--no-tags", "--", remote or "origin", deployed, check=False)
        if not present():
            return False
    return git.run("merge-base", "--is-ancestor", commit, deployed, check=False).rc == 0


def differing_file(git: Git, commit: str, deployed: str, files: Sequence[str]) -> str | None:
    """The first of ``files`` whose content at ``deployed`` is not the one at ``commit`` (added,
    removed or changed); None when all are equal. Both are shas present in the checkout (see
    contains_commit); a diff git cannot make counts as a difference."""
    if not files:
        return None
    specs = [f":(literal){path}" for path in files]
    result = git.run("diff", "--no-renames", "--name-only", "-z", commit, deployed, "--", *specs, check=False)
    if result.rc != 0:
        return files[0]
    names = [name for name in result.out.split("\0") if name]
    return names[0] if names else None


def source_env_files(tree: _Tree, env: str) -> list[str]:
    """``env``'s overlay / values files and the release manifest beside each of its overlays:
    what a deployment of ``env`` must have run unchanged to vouch for the state being promoted."""
    files = tree.envs[env].files()
    manifests = {
        f"{PurePosixPath(path).parent.as_posix()}/{layout.MANIFEST_NAME}"
        for path in tree.envs[env].overlay_files()
    }
    return sorted(set(files) | manifests)


# -- run ---------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _env_tags(
    tree: _Tree, keys: set[tuple[str, str]], plan: PromotionPlan | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Each env's tag of the promoted images, before and after (for the Mermaid flowchart)."""

    def label(states: list[ImageState]) -> str:
        tags = sorted({s.new_tag or (s.digest or "")[:19] or "-" for s in states})
        if not tags:
            return "-"
        return tags[0] if len(tags) == 1 else f"{tags[0]} +{len(tags) - 1}"

    before: dict[str, str] = {}
    after: dict[str, str] = {}
    planned = {} if plan is None else {(i.app, i.image): i.after for i in plan.items}
    for env in tree.policy.channels:
        state = tree.envs[env].state
        was = [state[key][1] for key in keys if key in state]
        before[env] = label(was)
        if plan is not None and env == plan.to_env:
            now = [planned.get(key, state[key][1] if key in state else None) for key in keys]
            after[env] = label([s for s in now if s is not None])
        else:
            after[env] = before[env]
    return before, after


def _mermaid(tree: _Tree, plan: PromotionPlan) -> str:
    keys = {(i.app, i.image) for i in plan.items}
    before, after = _env_tags(tree, keys, plan)
    return promotion.plan_mermaid(tree.policy.channels, before, after)


def _labels(
    policy: Policy, inputs: Inputs, plan: PromotionPlan
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    rules = policy.promotion.get(plan.to_env)
    labels = [*(rules.labels if rules else ()), *inputs.labels]
    if plan.kind == "rollback":
        labels.append("rollback")
    reviewers = [*(rules.reviewers if rules else ()), *inputs.reviewers]
    teams = [*(rules.team_reviewers if rules else ()), *inputs.team_reviewers]
    return tuple(dict.fromkeys(labels)), tuple(dict.fromkeys(reviewers)), tuple(dict.fromkeys(teams))


def run(inputs: Inputs, ctx: Context) -> Outputs:
    checkout = (ctx.workdir / inputs.repository_path).absolute()
    if inputs.mode == "verify":
        return run_verify(inputs, ctx, checkout)
    if inputs.mode == "dry-run":
        return run_dry(inputs, ctx, checkout)
    if inputs.mode == "pr" and not inputs.token:
        raise InputError(
            "token",
            "is required for mode pr (the pull request is opened with it)",
            fix="pass token: ${{ github.token }}",
        )
    remote = (
        resolve_remote(checkout, inputs.remote) if (checkout / ".git").exists() else (inputs.remote or "")
    )
    if not remote:
        raise ConfigError(
            f"repository-path '{checkout}' is not a clone and no remote was given",
            fix="check out the config repo first (actions/checkout), or give the remote input",
        )
    git = _git(checkout, inputs, remote, ctx)
    source_branch = None
    if inputs.strategy == "branch":
        # The env branches come from the checkout's policy; the plan then reads the target
        # branch's policy (the one the merge lands in).
        base, source_branch = _env_branches(_policy(checkout, inputs), inputs)
    else:
        base = inputs.base_branch or default_branch(checkout, remote, token=inputs.token, env=ctx.env)
    _ensure_clone(git, checkout, remote, base)
    kubectl = require_kubectl(ctx.env) if inputs.render_check else None
    return run_write(inputs, ctx, git, remote, base, kubectl, source_branch=source_branch)


def _env_branches(policy: Policy, inputs: Inputs) -> tuple[str, str | None]:
    """strategy branch: (the target env's branch, the source env's branch or None for pins)."""
    to_env = inputs.to_env or ""
    from_env = None if inputs.pinned or inputs.revert else (inputs.from_env or previous_env(policy, to_env))
    for env in (to_env, from_env):
        if env is not None and env not in policy.branches:
            raise ConfigError(
                f"strategy branch: the policy has no branch for env {env!r} (promotion.branches)",
                fix=f"add promotion: {{branches: {{{env}: <branch>}}}} to the policy, or use "
                "strategy: overlay",
            )
    return policy.branches[to_env], None if from_env is None else policy.branches[from_env]


def previous_env(policy: Policy, to_env: str) -> str:
    """from-env's default: the env before ``to_env`` in the policy's order."""
    order = list(policy.env_order)
    if to_env not in order:
        _check_env(policy, "to-env", to_env)
    index = order.index(to_env)
    if index == 0:
        raise InputError(
            "from-env",
            f"is not set and {to_env} is the first env ({' → '.join(order)}): nothing comes before it",
            fix="name from-env, or pin a version with tag/digest",
        )
    return order[index - 1]


def with_defaults(inputs: Inputs, policy: Policy) -> Inputs:
    """``inputs`` with from-env defaulted to the env before to-env (promotions only)."""
    if inputs.from_env is not None or inputs.pinned or inputs.revert or inputs.to_env is None:
        return inputs
    return dataclasses.replace(inputs, from_env=previous_env(policy, inputs.to_env))


def plan_on(
    inputs: Inputs,
    git: Git,
    root: Path,
    commit: str,
    *,
    source_root: Path | None = None,
    source_commit_ref: str | None = None,
) -> tuple[PromotionPlan, _Tree, str | None]:
    """Read ``root`` (a checkout of ``commit``) and make the plan there; revert applies the
    inverse of the last promotion commit to ``root`` to learn what it restores. ``source_root``
    (strategy branch): the source env is read there (a checkout of ``source_commit_ref``)."""
    policy = _policy(root, inputs)
    inputs = with_defaults(inputs, policy)
    assert inputs.to_env is not None
    required = [inputs.to_env] + ([inputs.from_env] if inputs.from_env and source_root is None else [])
    tree = read_tree(root, inputs, required=required)
    source_commit = None
    if inputs.from_env is not None:
        if source_root is not None:
            source = read_tree(source_root, inputs, required=[inputs.from_env])
            tree.envs[inputs.from_env] = source.envs[inputs.from_env]
        files = tree.envs[inputs.from_env].files()
        ref = source_commit_ref or commit
        source_commit = last_commit(git, ref, files) or ref
    if not inputs.revert:
        return make_plan(tree, inputs), tree, source_commit
    to_env = inputs.to_env
    assert to_env is not None
    target = tree.envs[to_env]
    sha = find_promotion_commit(git, commit, target.files(), to_env)
    tree_git = Git(root, env=git.env)
    revert_into(tree_git, sha, target.files())
    reverted = layout.read_env(root, tree.policy, to_env, pattern=tree.pattern)
    plan = diff_plan(
        target.state,
        reverted.state,
        from_env=None,
        to_env=to_env,
        kind="rollback",
        what=f"revert of {sha[:12]}",
    )
    return plan, tree, sha


_ROLLBACK_SUBJECT = re.compile(r"^(rollback\b|pin\b|Revert \")")


def _rollback_subject(subject: str, body: str) -> str | None:
    """``subject`` when the commit is a rollback (a pin or revert by promote-overlay, or a ``git
    revert``); None for a promotion (kind promote trailer) or a person's edit."""
    if re.search(rf"^{TRAILER}: kind=(rollback|pin)\b", body, re.M):
        return subject.strip()
    if re.search(rf"^{TRAILER}: kind=promote\b", body, re.M):
        return None
    return subject.strip() if _ROLLBACK_SUBJECT.match(subject) else None


def _state_at(git: Git, ref: str, item: PlanItem, policy: Policy) -> ImageState | None:
    """``item``'s image as its file holds it at ``ref`` (None: absent or unreadable)."""
    file = item.target.file
    text = show_file(git, ref, file)
    if text is None:
        return None
    with contextlib.suppress(ReleaseError):
        if item.target.kind == "kustomize":
            for entry in layout.parse_images(text, file):
                if str(entry.get("name")) == item.image:
                    return ImageState(
                        name=item.image,
                        new_name=entry.get("newName"),
                        new_tag=entry.get("newTag"),
                        digest=entry.get("digest"),
                    )
            return None
        for rule in policy.values:
            if rule.image == item.image:
                return ImageState(
                    name=rule.image,
                    new_name=get_value(text, rule.repository, path=file) if rule.repository else None,
                    new_tag=get_value(text, rule.tag, path=file),
                    digest=get_value(text, rule.digest, path=file) if rule.digest else None,
                )
    return None


# How many earlier image changes of a file a change is compared with to tell a hand rollback (back
# to a state the env held) from a forward change.
HOLD_WINDOW = 50


def held_after_rollback(git: Git, ref: str, item: PlanItem, policy: Policy) -> str | None:
    """Why ``item``'s image is held in the target env (the subject of the rollback commit); None
    when it may be promoted. Decided on the last commit that changed this very image (a label or
    another image's change does not count). That commit is a rollback, and holds the image, when
    promote-overlay marked it one (kind rollback or pin), when it is a ``git revert``, or when it
    set the image back to a state (newName / newTag / digest) the env held before it, within the
    file's last HOLD_WINDOW image changes: a person's hand rollback. Only a change to a state
    never held there, or to the state the source env held at that commit (a promotion), releases
    it."""
    states: dict[str, ImageState | None] = {}

    def state(sha: str) -> ImageState | None:
        if sha not in states:
            states[sha] = _state_at(git, sha, item, policy)
        return states[sha]

    last: tuple[CommitInfo, ImageState] | None = None
    earlier: list[ImageState | None] = []
    for info in log_paths(git, [item.target.file], ref=ref, max_count=200):
        now = state(info.sha)
        was = state(info.parents[0]) if info.parents else None
        if now == was:
            continue
        if last is None:
            subject = _rollback_subject(info.subject, info.body)
            if subject is not None or now is None:
                return subject
            last = (info, now)
        else:
            earlier.append(now)
        earlier.append(was)
        if len(earlier) >= 2 * HOLD_WINDOW:
            break
    if last is None:
        return None
    info, now = last
    if now not in earlier:
        return None  # a forward change
    source = None if item.source is None else dataclasses.replace(item, target=item.source)
    if source is not None and _state_at(git, info.sha, source, policy) == now:
        return None  # the source env's state: a promotion
    return f"{info.subject.strip()} (sets {item.image} back to {now.shown()}, which it held before)"


def run_write(
    inputs: Inputs,
    ctx: Context,
    git: Git,
    remote: str,
    base: str,
    kubectl: Path | None,
    *,
    source_branch: str | None = None,
) -> Outputs:
    console = ctx.console
    now = _now()
    base_sha = fetch_ref(git, remote, base, inputs, ctx.env)
    if base_sha is None:
        raise GitError(f"branch '{base}' was not found on the remote", fix="create it or fix base-branch")
    source_sha = None
    if source_branch is not None:
        source_sha = fetch_ref(git, remote, source_branch, inputs, ctx.env)
        if source_sha is None:
            raise GitError(
                f"branch '{source_branch}' was not found on the remote",
                fix="create it or fix promotion.branches",
            )
    github = _GitHub(inputs, ctx)
    with contextlib.ExitStack() as stack:
        # A revert needs a real worktree (the inverse of a commit is merged into it).
        scratch = stack.enter_context(
            worktree(git, base_sha) if inputs.revert else layout_tree(git, base_sha, inputs)
        )
        source_root = (
            None if source_sha is None else stack.enter_context(layout_tree(git, source_sha, inputs))
        )
        plan, tree, source_commit = plan_on(
            inputs, git, scratch, base_sha, source_root=source_root, source_commit_ref=source_sha
        )
    outputs = Outputs(plans=[plan], promoted=promotion.plan_json(plan))
    outputs.mermaid = _mermaid(tree, plan)
    console.info(promotion.plan_text(plan))
    outputs.plan_logged = True
    if not plan.items:
        outputs.state = "no-change"
        outputs.commit_sha = base_sha
        return outputs
    if inputs.hold_after_rollback and plan.kind == "promote":
        # Per image: one whose last image change in to-env is a rollback stays out of the plan
        # (until a person promotes it); the others are promoted.
        held = {item: held_after_rollback(git, base_sha, item, tree.policy) for item in plan.items}
        for item, subject in held.items():
            if subject is not None:
                outputs.notes.append(
                    f"held: {item.image} in {item.target.file}: its last change is a rollback "
                    f"({subject}); promote it by hand to resume"
                )
                console.annotation(
                    "notice", outputs.notes[-1], title="promote-overlay: held after a rollback"
                )
        if any(subject is not None for subject in held.values()):
            plan = dataclasses.replace(
                plan, items=tuple(item for item, subject in held.items() if subject is None)
            )
            outputs.plans, outputs.promoted = [plan], promotion.plan_json(plan)
            outputs.mermaid = _mermaid(tree, plan)
        if not plan.items:
            outputs.state = "no-change"
            outputs.commit_sha = base_sha
            return outputs
    check_all_gates(plan, tree.policy, inputs)
    not_ready = github.status_reasons(
        plan,
        tree.policy,
        source_commit=source_commit,
        now=now,
        git=git,
        remote=remote,
        source_files=source_env_files(tree, plan.from_env) if plan.from_env in tree.envs else (),
    )
    reasons = [exc.message for exc in not_ready]
    if reasons and inputs.if_not_ready == "skip":
        outputs.state = "no-change"
        outputs.commit_sha = base_sha
        outputs.notes.append("not ready: " + "; ".join(reasons))
        console.annotation("notice", outputs.notes[-1], title="promote-overlay: source env not ready")
        return outputs
    if reasons:
        fixes = dict.fromkeys(exc.fix for exc in not_ready if exc.fix)
        raise PolicyError("; ".join(reasons), fix="; ".join(fixes) or "wait until the source env is ready")
    message = commit_message(plan)
    pull_number: list[int | None] = [None]
    head_texts: dict[str, str | None] = {}
    touched: list[str] = []
    written: dict[str, list[str]] = {"manifests": []}

    edits: dict[tuple[Any, ...], str] = {}
    rendered: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def edit(root: Path) -> str | None:
        fresh = read_tree(root, inputs, required=[plan.to_env], envs=[plan.to_env])
        env_files = fresh.envs[plan.to_env]
        touched_dirs = sorted(
            {
                env_files.overlay_dirs[item.target.app]
                for item in plan.items
                if item.target.kind == "kustomize" and item.target.app in env_files.overlay_dirs
            }
        )
        # The same base commit and the same plan were rendered and checked already (pr mode's
        # second push only adds the PR number to the manifests): not again.
        render_key = (
            Git(root, env=git.env).head(),
            tuple(
                sorted((item.target.file, env_files.texts.get(item.target.file, "")) for item in plan.items)
            ),
        )
        renderer = (
            Renderer(root, touched_dirs, kubectl=kubectl, env=ctx.env)
            if kubectl is not None and touched_dirs and render_key not in rendered
            else None
        )
        # kustomize renders the overlays as they are (a subprocess, on the other core) while the
        # edits are made in memory; nothing is written before that render is done.
        before: dict[str, dict[str, _Render]] = {}
        rendering = None if renderer is None else Background(lambda: before.update(done=renderer.render()))
        try:
            texts, todo = apply_plan(plan, fresh.policy, env_files, cache=edits, check=False)
            edited = dict(texts)  # the overlay and values files (the manifests are added below)
            manifest = (
                manifest_texts(
                    todo,
                    env_files,
                    source_commit=source_commit,
                    pull_request=pull_number[0],
                    promoted_at=_iso(now),
                    existing=lambda path: (
                        head_texts[path] if path in head_texts else layout.read_file(root, path)
                    ),
                )
                if todo.items
                else {}
            )
            texts.update(manifest)
            check_written(texts)
        except BaseException:
            if rendering is not None:  # its error (if any) is not the one to report
                with contextlib.suppress(ReleaseError):
                    rendering.result()
            raise
        if rendering is not None:
            if todo.items:
                rendering.result()
            else:
                with contextlib.suppress(ReleaseError):  # nothing to write: nothing to check
                    rendering.result()
        if not todo.items:
            return None
        # The YAML-level check of the edit re-reads each edited file: while kustomize renders it.
        checking = Background(lambda: check_yaml(todo, fresh.policy, env_files, edited))
        try:
            for path, text in texts.items():
                layout.write_file(root, path, text)
            if renderer is not None:
                check_renders(todo, env_files, before.get("done"), renderer.render())
                rendered.append(render_key)
        finally:
            checking.result()
        touched[:] = sorted(texts)
        written["manifests"] = sorted(manifest)
        return message

    if inputs.mode == "commit":
        with console.group(f"promote-overlay: commit to {base}"):
            pushed = commit_and_push(
                git.cwd,
                remote,
                base,
                edit,
                token=inputs.token,
                max_attempts=inputs.max_attempts,
                max_wait=inputs.max_wait,
                max_backoff=MAX_BACKOFF,
                log=_git_log(console),
                paths=lambda: touched,
                env=ctx.env,
                checkout_input="repository-path",
            )
        outputs.changed = pushed.changed
        outputs.state = "committed" if pushed.changed else "no-change"
        outputs.commit_sha = pushed.commit_sha or pushed.base_sha or ""
        outputs.release_manifest = written["manifests"][:1] if pushed.changed else []
        return outputs
    return _open_pull(
        inputs,
        ctx,
        git,
        remote,
        base,
        plan,
        edit,
        touched,
        written,
        pull_number,
        head_texts,
        outputs,
        github,
        policy=tree.policy,
        source_commit=source_commit,
    )


def _open_pull(
    inputs: Inputs,
    ctx: Context,
    git: Git,
    remote: str,
    base: str,
    plan: PromotionPlan,
    edit: Callable[[Path], str | None],
    touched: list[str],
    written: dict[str, list[str]],
    pull_number: list[int | None],
    head_texts: dict[str, str | None],
    outputs: Outputs,
    github: _GitHub,
    *,
    policy: Policy,
    source_commit: str | None,
) -> Outputs:
    from gitops_release.adapters import github as gh

    console = ctx.console
    branch = plan.branch()
    existing = gh.find_open_pull(github.client, github.repository, head=branch, base=base)
    pull_number[0] = existing.number if existing is not None else None
    head_sha = fetch_ref(git, remote, branch, inputs, ctx.env)
    if head_sha is not None:
        # The branch's own manifests: unchanged plan, unchanged bytes (promotedAt kept).
        for path in _manifest_paths(plan):
            head_texts[path] = show_file(git, head_sha, path)

    def push() -> Any:
        return push_branch(
            git.cwd,
            remote,
            base=base,
            head=branch,
            edit=edit,
            token=inputs.token,
            log=_git_log(console),
            paths=lambda: touched,
            env=ctx.env,
            remote_input="remote",
            checkout_input="repository-path",
            max_attempts=inputs.max_attempts or 5,
        )

    with console.group(f"promote-overlay: branch {branch} -> {base}"):
        pushed = push()
        if pushed.state == "no-change":
            outputs.state = "no-change"
            outputs.commit_sha = pushed.base_sha or ""
            return outputs
        # Only a branch this run created is removed when the PR cannot be opened (never one an
        # open PR uses): nothing is left behind by a refusal (e.g. a token without
        # pull_requests: write).
        created_here = pushed.state == "created" and existing is None
        try:
            # The base moved while the branch was made (another promotion landed): make it again
            # on the new base, so a conflicting promotion is refused before any PR is opened.
            if fetch_ref(git, remote, base, inputs, ctx.env) != pushed.base_sha:
                pushed = dataclasses.replace(push(), state=pushed.state)
            labels, reviewers, teams = _labels(policy, inputs, plan)
            body = promotion.pr_body(
                plan,
                promotion.checklist(policy, plan.to_env),
                source_commit=source_commit,
                notes=outputs.notes,
            )
            pull, pull_state = gh.open_or_update_pull(
                github.client,
                github.repository,
                head=branch,
                base=base,
                title=plan.title(),
                body=body,
                draft=inputs.draft,
                labels=labels,
                reviewers=reviewers,
                team_reviewers=teams,
            )
        except BaseException:
            if created_here and pushed.commit_sha:
                _delete_branch(git, remote, branch, pushed.commit_sha)
            raise
        if pull_number[0] != pull.number:
            # A new PR: its number goes into the manifests (one more push of the same branch, made
            # on the base as it is now: push_branch re-applies the plan there and retries a lost
            # lease).
            pull_number[0] = pull.number
            head_texts.clear()
            try:
                refreshed = push()
            except ReleaseError as exc:
                # The PR is open and its branch holds the planned promotion; only the manifests
                # lack its number. Failing now would report no PR while one is open: warn, and
                # the next run of the same plan reuses the PR and writes the number (a changed
                # plan supersedes it).
                note = (
                    f"pull request #{pull.number} is open with the promotion, but writing its number "
                    f"into release-manifest.json failed: {exc.one_line().rstrip('.')}. Run the "
                    "promotion again: the next run refreshes the branch and writes the number (or "
                    "supersedes the pull request when the plan changed)"
                )
                outputs.notes.append(note)
                console.annotation(
                    "warning", note, title="promote-overlay: pull request branch not refreshed"
                )
            else:
                if refreshed.state != "no-change":  # no-change: the base holds the plan already
                    pushed = refreshed
    states = {pushed.state, pull_state}
    outputs.state = "created" if "created" in states else "updated" if "updated" in states else "not-updated"
    outputs.changed = outputs.state != "not-updated"
    outputs.pr_number, outputs.pr_url = pull.number, pull.url
    outputs.commit_sha = pushed.commit_sha or ""
    outputs.release_manifest = written["manifests"][:1]
    others = [
        other
        for other in gh.list_open_pulls(
            github.client, github.repository, base=base, head_prefix=f"promote/{plan.to_env}/"
        )
        # Only promotion PRs gitops-release opened (its hidden marker), never a person's PR that
        # happens to use the branch prefix.
        if other.number != pull.number
        and f"<!-- gitops-release:promote to={plan.to_env} " in (other.body or "")
    ]
    for other in others:
        if inputs.supersede == "close":
            gh.close_pull(
                github.client,
                github.repository,
                other.number,
                comment=f"Superseded by #{pull.number} ({plan.title()}): gitops-release closes an older "
                f"promotion to {plan.to_env} with another plan.",
            )
            outputs.notes.append(f"closed #{other.number} (superseded by #{pull.number})")
        else:
            outputs.notes.append(
                f"#{other.number} also promotes to {plan.to_env} and stays open (supersede: keep)"
            )
    return outputs


def _delete_branch(git: Git, remote: str, branch: str, sha: str) -> None:
    """Best effort: remove the branch this run created from ``remote`` (only while it is still at
    ``sha``). ``git`` carries the token as a header scoped to ``remote``, as push_branch sends it."""
    git.run(
        "push",
        "--porcelain",
        f"--force-with-lease=refs/heads/{branch}:{sha}",
        "--",
        remote,
        f":refs/heads/{branch}",
        check=False,
    )


def _manifest_paths(plan: PromotionPlan) -> list[str]:
    """Where the plan's manifests are: beside each touched kustomize overlay file."""
    paths = set()
    for item in plan.items:
        if item.target.kind == "kustomize":
            paths.add(f"{PurePosixPath(item.target.file).parent.as_posix()}/{layout.MANIFEST_NAME}")
    return sorted(paths)


# -- dry-run, verify, strategy branch ----------------------------------------------------------


def run_dry(inputs: Inputs, ctx: Context, checkout: Path) -> Outputs:
    """The plan and the diff on the checkout as it is (no fetch); nothing written."""
    if not (checkout / ".git").exists():
        raise ConfigError(
            f"dry-run needs an existing checkout, and '{checkout}' is not one",
            fix="check out the config repo first or point repository-path at it",
        )
    git = _git(checkout, inputs, None, ctx)
    head = git.rev_parse("HEAD")
    if head is None:
        # An unknown env is named first (the policy is read from the work tree), then the fix.
        policy = _policy(checkout, inputs)
        _check_env(policy, "to-env", inputs.to_env)
        _check_env(policy, "from-env", inputs.from_env)
        raise InputError(
            "repository-path",
            f"'{checkout}' has no commit yet: the plan reads the env's history (source commit, "
            "revert) from it",
            fix="commit the config repo's files first (git add -A && git commit), then run the dry run",
        )
    if inputs.revert:
        # The revert is worked out on a scratch worktree of HEAD; the diff is against the checkout.
        with worktree(git, head) as scratch:
            plan, _, source_commit = plan_on(inputs, git, scratch, head)
        tree = read_tree(checkout, inputs, required=[plan.to_env])
    else:
        plan, tree, source_commit = plan_on(inputs, git, checkout, head)
    check_all_gates(plan, tree.policy, inputs)
    env_files = tree.envs[plan.to_env]
    texts, todo = apply_plan(plan, tree.policy, env_files)
    texts.update(
        manifest_texts(
            todo,
            env_files,
            source_commit=source_commit,  # what mode commit writes (the bytes a dry run shows)
            pull_request=None,
            promoted_at=_iso(_now()),
            existing=lambda path: layout.read_file(checkout, path),
        )
    )
    check_written(texts)
    old = {path: env_files.texts.get(path) or layout.read_file(checkout, path) for path in texts}
    outputs = Outputs(plans=[plan], promoted=promotion.plan_json(plan), state="planned", changed=False)
    outputs.mermaid = _mermaid(tree, plan)
    outputs.diff = unified_diff(old, texts)
    return outputs


def run_verify(inputs: Inputs, ctx: Context, checkout: Path) -> Outputs:
    """The hand edits of a pull request (the checkout) against verify-base: every env whose
    images changed gets its implied plan checked by the same gates; all reasons in one error."""
    git = _git(checkout, inputs, None, ctx)
    if inputs.to_env is not None:
        # The order, Secret, render and image checks then cover that env only: a pull request's
        # edit of any other env passes unchecked. Fine for a look at one env, not for a required check.
        ctx.console.annotation(
            "warning",
            f"verify checks env '{inputs.to_env}' only (to-env is set): the other envs' changes are not "
            "checked; leave to-env empty in a required check (verify-overlays.yml does)",
            title="verify narrowed to one env",
        )
    ref = inputs.verify_base
    if ref is None:
        remote = resolve_remote(checkout, inputs.remote)
        base = inputs.base_branch or default_branch(checkout, remote, token=inputs.token, env=ctx.env)
        ref = f"origin/{base}"
        if git.rev_parse(ref) is None:
            fetched = fetch_ref(git, remote, base, inputs, ctx.env)
            ref = fetched or ref
    base_sha = git.rev_parse(ref)
    if base_sha is None:
        raise InputError(
            "verify-base",
            f"'{ref}' is not a commit in the checkout",
            fix="fetch it first or give a ref that exists",
        )
    with layout_tree(git, base_sha, inputs) as scratch:
        before = read_tree(scratch, inputs, required=())
    # The base's policy: a pull request cannot loosen the check of its own change.
    head = read_tree(checkout, inputs, required=(), policy=before.policy)
    kubectl = require_kubectl(ctx.env) if inputs.render_check else None
    reasons: list[str] = []
    plans: list[PromotionPlan] = []
    for env in before.policy.channels:
        if inputs.to_env is not None and env != inputs.to_env:
            continue
        try:
            env_plans, refusals = _implied(before, head, env, inputs, git=git, base_sha=base_sha)
        except ReleaseError as exc:
            reasons.append(exc.message)
            continue
        reasons += refusals
        plans += env_plans
        for plan in env_plans:
            try:
                check_all_gates(plan, before.policy, inputs)
            except PolicyError as exc:
                reasons.append(f"{env}: {exc.message}")
    # The whole change, not only its image entries: private keys in any changed file, two
    # overlay files in one env directory, and every overlay rendered before and after (a base,
    # patch or generator edit changes a render without touching an images: entry).
    from gitops_release.commands.promote_verify import verify_change

    reasons += verify_change(
        git=git,
        checkout=checkout,
        base_sha=base_sha,
        before=before,
        head=head,
        kubectl=kubectl,
        env=ctx.env,
        envs=[env for env in before.policy.channels if inputs.to_env in (None, env)],
        policy_path=inputs.policy_path,
    )
    outputs = Outputs(plans=plans, promoted=[row for plan in plans for row in promotion.plan_json(plan)])
    if reasons:
        raise PolicyError(
            "verify: " + "; ".join(reasons),
            fix="fix each reason: promote through the envs in order (gitops-release promote-overlay), "
            "immutable tags, digests where required, overlays that render without Secret values; "
            "allow-skip only for a deliberate skip",
        )
    outputs.state = "verified"
    return outputs


def _implied(
    before: _Tree, head: _Tree, env: str, inputs: Inputs, *, git: Git, base_sha: str
) -> tuple[list[PromotionPlan], list[str]]:
    """What the PR does to ``env``, as plans the gates can check, and the reasons it is refused
    outright. Each changed entry is a promotion from the latest earlier env that holds that very
    state at the base (check_gates refuses a skip), a rollback when ``env`` itself held it in
    its last 20 commits, a pin in the first env (a new build); else it is refused (unless
    allow-skip): it comes from nowhere."""
    changed = diff_plan(
        before.envs[env].state,
        head.envs[env].state,
        from_env=None,
        to_env=env,
        kind="promote",
        what=f"the change to {env}",
    )
    order = list(head.policy.channels)
    index = order.index(env)
    groups: dict[tuple[str, str | None], list[PlanItem]] = {}
    reasons: list[str] = []
    for item in changed.items:
        key = (item.app, item.image)
        holders = [
            e
            for e in order[:index]
            if key in before.envs[e].state and before.envs[e].state[key][1] == item.after
        ]
        if holders:
            groups.setdefault(("promote", holders[-1]), []).append(item)
        elif index == 0:
            groups.setdefault(("pin", None), []).append(item)
        elif _held_before(git, base_sha, item):
            groups.setdefault(("rollback", None), []).append(item)
        elif inputs.allow_skip:
            groups.setdefault(("pin", None), []).append(item)
        else:
            reasons.append(
                f"{env}: {item.after.shown()} ({item.target.file}) is in no earlier env "
                f"({', '.join(order[:index])}) and was not in {env} before: promote it through them first"
            )
    plans = [
        PromotionPlan(from_env=source, to_env=env, kind=kind, items=tuple(items))  # type: ignore[arg-type]
        for (kind, source), items in sorted(groups.items(), key=lambda pair: (pair[0][0], pair[0][1] or ""))
    ]
    return plans, reasons


def _held_before(git: Git, base_sha: str, item: PlanItem) -> bool:
    """Whether ``item``'s new state was in its file in one of the last 20 commits touching it
    (a hand-made rollback)."""
    if item.target.kind != "kustomize":
        return False
    for info in log_paths(git, [item.target.file], ref=base_sha, max_count=20):
        text = show_file(git, info.sha, item.target.file)
        if text is None:
            continue
        with contextlib.suppress(ReleaseError):
            for entry in get_images(text, path=item.target.file):
                state = ImageState(
                    name=str(entry.get("name")),
                    new_name=entry.get("newName"),
                    new_tag=entry.get("newTag"),
                    digest=entry.get("digest"),
                )
                if state.name == item.image and state == item.after:
                    return True
    return False
