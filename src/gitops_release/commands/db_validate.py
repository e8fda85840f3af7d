"""``gitops-release db validate``: check db/db.json and the policy file before anyone relies on them.

Both files are checked against the JSON Schemas shipped in ``gitops_release/schemas/`` and then
parsed by the same code update-db uses (which also catches what a schema cannot say: sort order,
duplicate (container, channel) entries). The first problem fails the command (exit 1) with a
message naming the file and the JSON path. An absent policy file is valid (safe defaults).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from gitops_release.adapters.files import read_text_if_exists
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError
from gitops_release.runtime import InputReader, InputSpec

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database", default="db/db.json"),
    InputSpec("policy-path", "policy file (absent = safe defaults)", default=".gitops-release.yml"),
)


@dataclass(frozen=True)
class Inputs:
    db_path: str = "db/db.json"
    policy_path: str = ".gitops-release.yml"

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


def schema_problem(document: Any, schema: dict[str, Any]) -> str | None:
    """The first (best-matching) schema violation as 'at <json path>: <message>', or None."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return None
    message = " ".join(error.message.split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"at {_json_path(error.absolute_path)}: {message}"


def validate_db(text: str | None, shown: str) -> int:
    """Raise ConfigError naming the first problem; return the number of releases."""
    from gitops_release.core.db import load_db

    if text is None:
        raise ConfigError(
            f"db-path {shown} does not exist",
            fix='create it with an empty db ({"schemaVersion": 1, "releases": []}) or fix --db-path',
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"db-path {shown} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            fix="restore it from git history (git log -p -- " + shown + ")",
        ) from None
    schema = load_schema("db.schema.json")
    if schema is not None:
        problem = schema_problem(doc, schema)
        if problem:
            raise ConfigError(
                f"db-path {shown} does not match db.schema.json {problem}",
                fix="correct that entry (update-db writes valid entries) or restore it from git history",
            )
    db = load_db(text, path=shown)
    return len(db.releases)


def validate_policy(text: str | None, shown: str) -> bool:
    """Raise ConfigError naming the first problem; False when the file is absent (defaults)."""
    from gitops_release.core.policy import load_policy

    if text is None:
        load_policy(None, path=shown)
        return False
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"policy-path {shown} is not valid YAML{where}",
            fix="fix the YAML syntax (see the template in templates/config-repo/.gitops-release.yml)",
        ) from None
    schema = load_schema("policy.schema.json")
    if schema is not None:
        problem = schema_problem({} if doc is None else doc, schema)
        if problem:
            raise ConfigError(
                f"policy-path {shown} does not match policy.schema.json {problem}",
                fix="see docs/update-db.md#policy for the allowed keys",
            )
    load_policy(text, path=shown)
    return True


@dataclass
class Outputs:
    valid: bool
    releases: int
    policy: str

    def as_dict(self) -> dict[str, object]:
        return {"valid": self.valid, "releases": self.releases, "policy": self.policy}

    def summary(self) -> str:
        return (
            "### db validate\n\n| file | result |\n|---|---|\n"
            f"| db | valid, {self.releases} release(s) |\n| policy | {self.policy} |\n"
        )


def run(inputs: Inputs, ctx: Context) -> Outputs:
    db_text = read_text_if_exists(ctx.workdir / inputs.db_path, "db-path", inputs.db_path)
    count = validate_db(db_text, inputs.db_path)
    policy_text = read_text_if_exists(ctx.workdir / inputs.policy_path, "policy-path", inputs.policy_path)
    present = validate_policy(policy_text, inputs.policy_path)
    policy = "valid" if present else "absent: safe defaults"
    ctx.console.info(f"{inputs.db_path}: valid ({count} releases); {inputs.policy_path}: {policy}")
    return Outputs(valid=True, releases=count, policy=policy)
