"""init config-repo: write a config repository (db, policy, overlays, workflows) from the templates.

The engine is commands/init.py; this module holds the inputs and what they substitute
(core/scaffold.py). docs/init.md lists every file and the next steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_release.commands.base import Context
from gitops_release.commands.init import COMMON_INPUTS, Outputs, read_common, run_init
from gitops_release.core import scaffold
from gitops_release.runtime import InputReader, InputSpec

KIND = "config-repo"

INPUTS: tuple[InputSpec, ...] = (
    *COMMON_INPUTS,
    InputSpec(
        "repository",
        "source repository whose builds may release (the policy's sources), owner/name",
        default=scaffold.TEMPLATE_REPOSITORY,
    ),
    InputSpec(
        "app",
        "app name: container in db.json, Deployment, namespaces <app>-<env>, Argo CD apps <app>-<env> "
        "(default: the repository's name, lowercased)",
    ),
    InputSpec("image", "image repository without tag (default: ghcr.io/<repository>, lowercased)"),
    InputSpec(
        "config-repository",
        "this config repository, owner/name: Argo CD's repoURL, the Argo Events webhook, the PostSync hook",
        default=scaffold.TEMPLATE_CONFIG_REPOSITORY,
    ),
)


@dataclass(frozen=True)
class Inputs:
    dir: str
    force: bool
    values: scaffold.ConfigRepoValues

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = read_common(reader, INPUTS)
        repository = scaffold.check_repository(str(values["repository"]).strip(), "repository")
        app = scaffold.check_app(str(values["app"] or scaffold.default_app(repository)).strip())
        image = scaffold.check_image(str(values["image"] or scaffold.default_image(repository)).strip())
        return cls(
            dir=str(values["dir"]),
            force=bool(values["force"]),
            values=scaffold.ConfigRepoValues(
                repository=repository,
                app=app,
                image=image,
                config_repository=scaffold.check_repository(
                    str(values["config_repository"]).strip(), "config-repository"
                ),
            ),
        )


def run(inputs: Inputs, ctx: Context) -> Outputs:
    # A warning, not a refusal: the defaults write the templates as they are (tests, e2e, a look).
    for warning in scaffold.placeholder_warnings(inputs.values):
        ctx.console.annotation("warning", warning, title="init config-repo")
    return run_init(
        KIND,
        inputs.dir,
        inputs.force,
        lambda _path, text: scaffold.render_config_repo(text, inputs.values),
        lambda directory: scaffold.config_repo_next_steps(inputs.values, directory),
        ctx,
    )


__all__ = ["INPUTS", "Inputs", "Outputs", "run"]
