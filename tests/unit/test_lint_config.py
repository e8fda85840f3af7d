"""The lint gates stay honest: zizmor findings are configured in zizmor.yml, never silenced inline."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _workflow_files() -> list[Path]:
    roots = [ROOT / "action.yml", ROOT / "actions", ROOT / ".github"]
    roots += [ROOT / "templates", ROOT / "tests" / "e2e"]
    files: list[Path] = []
    for root in roots:
        files += [root] if root.is_file() else [*root.rglob("*.yml"), *root.rglob("*.yaml")]
    return files


def test_no_inline_zizmor_ignores():
    offenders = [str(p.relative_to(ROOT)) for p in _workflow_files() if "zizmor: ignore" in p.read_text()]
    assert offenders == []


def test_zizmor_config_disables_only_self_repository_and_pins_third_parties_by_sha():
    rules = yaml.safe_load((ROOT / "zizmor.yml").read_text())["rules"]
    disabled = sorted(name for name, rule in rules.items() if rule.get("disable"))
    assert disabled == ["self-repository"]
    assert rules["unpinned-uses"]["config"]["policies"] == {"gitops-release/*": "ref-pin", "*": "hash-pin"}
