"""``gitops-release overlays status``: which image every environment runs (seed 003's get-tags.ps1).

Reads the checkout as it is (no git call): each env's overlays (policy ``overlays.dir``, ``*``
= one app per match) and values files (``overlays.values``), one row per (app, image), one column
per env with its tag and short digest; rows where envs differ are marked, and so is the env that
is ahead (core/overlays_status). Printed as a terminal table, Markdown or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitops_release.adapters import layout
from gitops_release.commands.base import Context
from gitops_release.core import overlays_status
from gitops_release.core.policy import load_policy
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader, InputSpec, parse_relative_path

FORMATS = ("table", "markdown", "json")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("policy-path", "policy file inside the checkout", default=".gitops-release.yml"),
    InputSpec(
        "overlays-dir", "overlays directory (overrides the policy's overlays.dir; * = one app per match)"
    ),
    InputSpec("repository-path", "the config repo checkout (read as it is: no git calls)", default="."),
    InputSpec("format", "table (terminal), markdown or json", default="table", choices=FORMATS),
    InputSpec(
        "envs", "which envs, shown in the policy's order (default: every channel)", kind="list", default=()
    ),
)


def _relative(name: str, raw: str | None, *, example: str) -> str | None:
    return None if raw is None else parse_relative_path(name, raw, example=example, allow_root=True)


@dataclass(frozen=True)
class Inputs:
    policy_path: str = ".gitops-release.yml"
    overlays_dir: str | None = None
    repository_path: str = "."
    format: str = "table"
    envs: tuple[str, ...] = ()

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        v = {spec.name: reader.get(spec) for spec in INPUTS}
        for env in v["envs"]:
            if any(ord(ch) <= 32 for ch in env) or len(env) > 63:
                raise InputError("envs", f"'{env[:40]}' is not an env name", fix="give env names like stage")
        return cls(
            policy_path=_relative("policy-path", v["policy-path"], example=".gitops-release.yml")
            or ".gitops-release.yml",
            overlays_dir=_relative("overlays-dir", v["overlays-dir"], example="infra/argocd/overlays"),
            repository_path=v["repository-path"],
            format=v["format"],
            envs=tuple(v["envs"]),
        )


@dataclass
class Outputs:
    format: str
    envs: list[str]
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"envs": self.envs, "status": self.data}

    def summary(self) -> str:
        return "### overlays status\n\n" + self.markdown

    def report(self) -> str:
        return self.text.rstrip("\n")


def run(inputs: Inputs, ctx: Context) -> Outputs:
    root = (ctx.workdir / inputs.repository_path).absolute()
    if not root.is_dir():
        raise ConfigError(
            f"repository-path '{root}' is not a directory",
            fix="point repository-path at the config repo checkout",
        )
    policy = load_policy(layout.read_file(root, inputs.policy_path, "policy-path"), path=inputs.policy_path)
    unknown = [env for env in inputs.envs if env not in policy.channels]
    if unknown:
        raise InputError(
            "envs",
            f"'{unknown[0]}' is not an env of the policy ({', '.join(policy.channels)})",
            fix="name envs from the policy's channels",
        )
    order = [env for env in policy.env_order if not inputs.envs or env in inputs.envs]
    pattern = layout.overlays_dir(policy, inputs.overlays_dir)
    states = {env: layout.read_env(root, policy, env, pattern=pattern, required=False).state for env in order}
    if not any(states.values()):
        dirs = ", ".join(f"{pattern}/{policy.overlay_for(env)}" for env in order)
        raise ConfigError(
            f"no images found in any env: none of {dirs} has an overlay with images (and no values files)",
            fix="check overlays.dir / overlays.environments in the policy, or the overlays-dir input",
        )
    rows = overlays_status.status_rows(order, states)
    markdown = overlays_status.status_markdown(order, rows)
    text = {
        "table": lambda: overlays_status.status_text(order, rows),
        "markdown": lambda: markdown,
        "json": lambda: overlays_status.status_json(order, rows),
    }[inputs.format]()
    return Outputs(
        format=inputs.format,
        envs=order,
        text=text,
        data=overlays_status.status_data(order, rows),
        markdown=markdown,
    )
