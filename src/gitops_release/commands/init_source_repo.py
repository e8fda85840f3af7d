"""init source-repo: write a source repository's build-and-dispatch workflow with its ref -> channel map.

The engine is commands/init.py; this module holds the inputs and what they substitute
(core/scaffold.py). docs/init.md lists the file and the next steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops_release.commands.base import Context
from gitops_release.commands.init import COMMON_INPUTS, Outputs, read_common, run_init
from gitops_release.core import scaffold
from gitops_release.core.channels import DEFAULT_CHANNEL_MAP, parse_channel_map
from gitops_release.runtime import InputReader, InputSpec

KIND = "source-repo"

INPUTS: tuple[InputSpec, ...] = (
    *COMMON_INPUTS,
    InputSpec(
        "channel-map",
        "pushed ref -> channel, first match wins: pattern=channel per line or comma; also sets on.push "
        "(default: refs/heads/main=dev, refs/heads/staging=stage, refs/heads/production=prod, "
        "refs/tags/v*=prod)",
    ),
    InputSpec("app", "container name the dispatch carries (default: the repository's name at run time)"),
    InputSpec("image", "image repository to push, without tag (default: ghcr.io/<owner>/<name> at run time)"),
    InputSpec(
        "config-repository",
        "config repository that receives the dispatch, owner/name (default: the repository variable "
        "CONFIG_REPOSITORY)",
    ),
)


@dataclass(frozen=True)
class Inputs:
    dir: str
    force: bool
    values: scaffold.SourceRepoValues

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = read_common(reader, INPUTS)
        raw_map = values["channel_map"]
        mapping = parse_channel_map(str(raw_map)) if raw_map else DEFAULT_CHANNEL_MAP
        scaffold.push_triggers(mapping)  # refused here, before anything is read or written
        app = scaffold.check_app(str(values["app"]).strip()) if values["app"] else None
        image = scaffold.check_image(str(values["image"]).strip()) if values["image"] else None
        config = values["config_repository"]
        config_repository = (
            scaffold.check_repository(str(config).strip(), "config-repository") if config else None
        )
        return cls(
            dir=str(values["dir"]),
            force=bool(values["force"]),
            values=scaffold.SourceRepoValues(
                channel_map=mapping, app=app, image=image, config_repository=config_repository
            ),
        )


def run(inputs: Inputs, ctx: Context) -> Outputs:
    return run_init(
        KIND,
        inputs.dir,
        inputs.force,
        lambda path, text: scaffold.render_source_repo(path, text, inputs.values),
        lambda directory: scaffold.source_repo_next_steps(inputs.values, directory),
        ctx,
    )


__all__ = ["INPUTS", "Inputs", "Outputs", "run"]
