"""``gitops-release db validate``: check db/db.json and the policy file before anyone relies on them.

Both files are checked against the JSON Schemas shipped in ``gitops_release/schemas/`` and then
parsed by the same code update-db uses (which also catches what a schema cannot say: duplicate
(container, channel) entries). db.json must also be in the form update-db writes (sorted by
container and channel, keys in order, 2-space indent): otherwise the next update rewrites the
whole file and its diff hides the one release it changed. ``rewrite`` puts it in that form
instead of failing. The first problem fails the command (exit 1) with a message naming the file
and the JSON path or line. An absent policy file is valid (the permissive defaults: any source and image).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from gitops_release.adapters.files import atomic_write, path_in_checkout, read_text_if_exists
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError
from gitops_release.runtime import InputReader, InputSpec

if TYPE_CHECKING:
    from gitops_release.core.db import ReleaseDB

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database", default="db/db.json"),
    InputSpec(
        "policy-path",
        "policy file (absent = permissive defaults: any source and image)",
        default=".gitops-release.yml",
    ),
    InputSpec(
        "rewrite",
        "write a valid db.json that is not in update-db's form in that form, instead of failing",
        kind="bool",
        default=False,
    ),
)


@dataclass(frozen=True)
class Inputs:
    db_path: str = "db/db.json"
    policy_path: str = ".gitops-release.yml"
    rewrite: bool = False

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        return cls(**reader.read_all(INPUTS))


def load_schema(name: str) -> dict[str, Any] | None:
    """A schema shipped in gitops_release/schemas, or None when this build has none of that name."""
    try:
        text = (
            resources.files("gitops_release").joinpath("schemas").joinpath(name).read_text(encoding="utf-8")
        )
    except (FileNotFoundError, OSError):
        return None
    schema: dict[str, Any] = json.loads(text)
    return schema


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def schema_problem(document: Any, schema: dict[str, Any], shown: str = "document") -> str | None:
    """The first (best-matching) schema violation as 'at <json path>: <message>', or None."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    except RecursionError:
        raise ConfigError(
            f"{shown} is nested too deeply (hundreds of levels)",
            fix="restore it from git history; valid files are a few levels deep",
        ) from None
    if error is None:
        return None
    message = " ".join(error.message.split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"at {_json_path(error.absolute_path)}: {message}"


def validate_db(text: str | None, shown: str) -> ReleaseDB:
    """Raise ConfigError naming the first problem (the form update-db writes aside)."""
    from gitops_release.core.db import check_schema_version, load_db, parse_db_json

    if text is None:
        raise ConfigError(
            f"db-path {shown} does not exist",
            fix='create it with an empty db ({"schemaVersion": 1, "releases": []}) or fix --db-path',
        )
    try:
        doc = parse_db_json(text, path=shown)
    except ConfigError as exc:
        # The fix quotes the path in a git command (git log -p -- db/db.json): only the message
        # names the input.
        raise ConfigError(f"db-path {exc.message}", fix=exc.fix) from None
    if isinstance(doc, dict):
        # Before the schema: a db written by a newer gitops-release must say "upgrade", not
        # "restore from git history" (which would roll back its data).
        check_schema_version(doc, path=f"db-path {shown}")
    schema = load_schema("db.schema.json")
    if schema is not None:
        problem = schema_problem(doc, schema, f"db-path {shown}")
        if problem:
            raise ConfigError(
                f"db-path {shown} does not match db.schema.json {problem}",
                fix="correct that entry (update-db writes valid entries) or restore it from git history",
            )
    return load_db(text, path=shown)


def validate_policy(text: str | None, shown: str) -> bool:
    """Raise ConfigError naming the first problem; False when the file is absent (defaults).

    Exactly update-db's loader (schema, duplicate and merge keys, alias bounds, cross-field
    rules), so both commands word a problem alike; db validate names the input first, as it
    does for db-path: ``policy-path .gitops-release.yml: /tags/requiredigest is not a known key``.
    """
    from gitops_release.core.policy import load_policy

    load_policy(text, path=f"policy-path {shown}")
    return text is not None


@dataclass
class Outputs:
    valid: bool
    releases: int
    policy: str
    rewritten: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "releases": self.releases,
            "policy": self.policy,
            "rewritten": self.rewritten,
        }

    def summary(self) -> str:
        db = f"valid, {self.releases} release(s)" + (
            ", rewritten in update-db's form" if self.rewritten else ""
        )
        return f"### db validate\n\n| file | result |\n|---|---|\n| db | {db} |\n| policy | {self.policy} |\n"


def run(inputs: Inputs, ctx: Context) -> Outputs:
    from gitops_release.core.db import canonical_difference, dump_db

    # The paths are relative to the working directory (the checkout): a symbolic link along
    # either would read a file from outside it, and --rewrite would write there.
    db_file = path_in_checkout(ctx.workdir, inputs.db_path, "db-path")
    policy_file = path_in_checkout(ctx.workdir, inputs.policy_path, "policy-path")
    db_text = read_text_if_exists(db_file, "db-path", inputs.db_path)
    db = validate_db(db_text, inputs.db_path)
    policy_text = read_text_if_exists(policy_file, "policy-path", inputs.policy_path)
    present = validate_policy(policy_text, inputs.policy_path)
    policy = "valid" if present else "absent: permissive defaults"
    difference = canonical_difference(db_text or "", db)
    if difference is not None and not inputs.rewrite:
        raise ConfigError(
            f"db-path {inputs.db_path} is valid but not in the form update-db writes ({difference}); "
            "the next update would rewrite the whole file",
            fix="run 'gitops-release db validate --rewrite' and commit the result",
        )
    if difference is not None:
        atomic_write(db_file, dump_db(db))
    ctx.console.info(
        f"{inputs.db_path}: valid ({len(db)} releases{', rewritten' if difference else ''}); "
        f"{inputs.policy_path}: {policy}"
    )
    return Outputs(valid=True, releases=len(db), policy=policy, rewritten=difference is not None)
