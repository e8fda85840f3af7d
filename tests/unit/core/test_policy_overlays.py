"""core/policy.py: overlays.dir's * and overlays.apps (several containers sharing one overlay)."""

from __future__ import annotations

import pytest

from gitops_release.core.policy import DEFAULT_POLICY, load_policy
from gitops_release.errors import ConfigError


def test_apps_names_what_replaces_the_star_and_defaults_to_the_container() -> None:
    policy = load_policy("overlays:\n  dir: apps/*/overlays\n  apps: {my-app-worker: my-app}\n")
    assert policy.overlay_app("my-app-worker") == "my-app"
    assert policy.overlay_app("my-app") == "my-app"
    assert policy.overlay_app("other") == "other"
    assert DEFAULT_POLICY.overlay_app("x") == "x" and dict(DEFAULT_POLICY.overlay_apps) == {}


def test_apps_without_a_star_in_dir_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy("overlays:\n  dir: infra/overlays\n  apps: {my-app-worker: my-app}\n")
    assert info.value.message.startswith(".gitops-release.yml: /overlays/apps maps containers")
    assert "dir has no *" in info.value.message


@pytest.mark.parametrize(
    ("apps", "pointer"),
    [
        ("{my-app: ../x}", "/overlays/apps/my-app"),
        ("{my-app: a/b}", "/overlays/apps/my-app"),
        ("{my-app: ''}", "/overlays/apps/my-app"),
        ("{My-App: x}", "/overlays/apps"),
        ("[my-app]", "/overlays/apps"),
    ],
)
def test_an_app_name_must_be_one_plain_directory_name(apps: str, pointer: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(f"overlays:\n  dir: apps/*/overlays\n  apps: {apps}\n")
    assert pointer in info.value.message
