"""core/overlays_status.py: the environment-by-image table of ``overlays status``."""

from __future__ import annotations

import json

import pytest

from gitops_release.core.overlays_status import (
    StatusRow,
    cell_text,
    status_data,
    status_json,
    status_markdown,
    status_rows,
    status_text,
)
from gitops_release.core.promotion import EnvState, ImageState, Target

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
ENVS = ("dev", "stage", "prod")
APP = "ghcr.io/org/my-app"


def env_state(env: str, *entries: tuple[str, str, ImageState]) -> EnvState:
    return {
        (app, image): (Target(app, f"{app}/{env}/kustomization.yaml", "kustomize"), s)
        for app, image, s in entries
    }


STATES = {
    "dev": env_state(
        "dev",
        ("my-app", APP, ImageState(APP, None, "sha-3", D2)),
        ("my-app", "nginx", ImageState("nginx", None, "1.27.1")),
        ("tool", "tool", ImageState("tool", None, "2.0.0")),
    ),
    "stage": env_state(
        "stage",
        ("my-app", APP, ImageState(APP, None, "sha-2", D1)),
        ("my-app", "nginx", ImageState("nginx", None, "1.27.1")),
        ("tool", "tool", ImageState("tool", None, "1.0.0")),
    ),
    "prod": env_state(
        "prod",
        ("my-app", APP, ImageState(APP, None, "sha-2", D1)),
        ("my-app", "nginx", ImageState("nginx", None, "1.27.1")),
        ("tool", "tool", ImageState("tool", None, "1.0.1")),  # a hotfix in prod
    ),
}


def test_status_rows() -> None:
    rows = status_rows(ENVS, STATES)
    assert rows == [
        StatusRow(
            "my-app",
            APP,
            (
                ImageState(APP, None, "sha-3", D2),
                ImageState(APP, None, "sha-2", D1),
                ImageState(APP, None, "sha-2", D1),
            ),
            (
                "my-app/dev/kustomization.yaml",
                "my-app/stage/kustomization.yaml",
                "my-app/prod/kustomization.yaml",
            ),
            True,
            (),  # sha tags: which build is newer is not known, only that they differ
        ),
        StatusRow(
            "my-app",
            "nginx",
            (ImageState("nginx", None, "1.27.1"),) * 3,
            (
                "my-app/dev/kustomization.yaml",
                "my-app/stage/kustomization.yaml",
                "my-app/prod/kustomization.yaml",
            ),
            False,
            (),
        ),
        StatusRow(
            "tool",
            "tool",
            (
                ImageState("tool", None, "2.0.0"),
                ImageState("tool", None, "1.0.0"),
                ImageState("tool", None, "1.0.1"),
            ),
            ("tool/dev/kustomization.yaml", "tool/stage/kustomization.yaml", "tool/prod/kustomization.yaml"),
            True,
            ("dev",),  # stage's 1.0.0 is lower than prod's 1.0.1: not ahead
        ),
    ]


def test_ahead_rules() -> None:
    def ahead(a: ImageState | None, b: ImageState | None) -> tuple[str, ...]:
        states = {
            "x": {} if a is None else env_state("x", ("", "i", a)),
            "y": {} if b is None else env_state("y", ("", "i", b)),
        }
        return status_rows(("x", "y"), states)[0].ahead

    assert ahead(ImageState("i", None, "v1"), ImageState("i", None, "v1")) == ()
    assert ahead(ImageState("i", None, "1.0.0"), ImageState("i", None, "2.0.0")) == ()
    assert ahead(ImageState("i", None, "2.0.0"), ImageState("i", None, "1.0.0")) == ("x",)
    # only a higher semantic version (or an image y lacks) is known to be ahead; any other
    # difference is "differs": a sha tag or a digest does not tell which build is newer
    assert ahead(ImageState("i", None, "1.0.0"), ImageState("i", None, "v1.0.0")) == ()  # same version
    assert ahead(ImageState("i", None, "sha-a"), ImageState("i", None, "sha-b")) == ()
    assert ahead(ImageState("i", None, "sha-bbbb2222"), ImageState("i", None, "sha-aaaa1111")) == ()
    assert ahead(ImageState("i", None, "v1", D1), ImageState("i", None, "v1", D2)) == ()
    assert ahead(ImageState("i", None, "2.0.0", D1), ImageState("i", None, "1.0.0", D2)) == ("x",)
    assert ahead(ImageState("i", "m/i", "v1"), ImageState("i", None, "v1")) == ()
    assert ahead(ImageState("i", "m/i", "2.0.0"), ImageState("i", None, "1.0.0")) == ()  # another image
    assert ahead(ImageState("i", None, "v1"), None) == ("x",)  # not yet in y
    assert ahead(None, ImageState("i", None, "v1")) == ()
    assert ahead(ImageState("i", None, None, D1), ImageState("i", None, "v1")) == ()
    assert ahead(ImageState("i", None, "v1"), ImageState("i", None, None, D1)) == ()
    # the entry name itself does not count (kustomize matched both)
    assert ahead(ImageState("i", None, "v1"), ImageState("other", None, "v1")) == ()


def test_differs_ignores_missing_environments_and_keys_of_any_env() -> None:
    states = {
        "dev": env_state("dev", ("a", "x", ImageState("x", None, "v1"))),
        "prod": env_state(
            "prod", ("a", "x", ImageState("x", None, "v1")), ("b", "y", ImageState("y", None, "v9"))
        ),
    }
    rows = status_rows(ENVS, states)
    assert [(r.app, r.image, r.differs, r.ahead) for r in rows] == [
        ("a", "x", False, ("dev",)),
        ("b", "y", False, ()),
    ]
    assert rows[0].states[1] is None and rows[0].files[1] is None
    assert status_rows(ENVS, {}) == []


def test_cell_text() -> None:
    assert cell_text(None) == "-"
    assert cell_text(ImageState("x", None, "v1", D1)) == "v1@sha256:111111111111"
    assert cell_text(ImageState("x", "m/x", "v1")) == "m/x:v1"
    assert cell_text(ImageState("x")) == "(unset)"
    assert cell_text(ImageState("x", None, "t" * 40)) == "t" * 40
    assert cell_text(ImageState("x", None, "t" * 41)) == "t" * 39 + "…"


def test_status_markdown() -> None:
    assert status_markdown(ENVS, status_rows(ENVS, STATES)) == (
        "| app | image | dev | stage | prod | status |\n"
        "|---|---|---|---|---|---|\n"
        f"| `my-app` | `{APP}` | `sha-3@sha256:222222222222` | `sha-2@sha256:111111111111` | "
        "`sha-2@sha256:111111111111` | **differs** |\n"
        "| `my-app` | `nginx` | `1.27.1` | `1.27.1` | `1.27.1` | same |\n"
        "| `tool` | `tool` | `2.0.0` ▲ | `1.0.0` | `1.0.1` | **dev ahead of stage** |"
    )
    assert status_markdown(ENVS, []) == "No images found in the overlays."


def test_status_words_for_several_and_no_envs_ahead() -> None:
    states = {
        "dev": env_state("dev", ("", "x", ImageState("x", None, "3.0.0"))),
        "stage": env_state("stage", ("", "x", ImageState("x", None, "2.0.0"))),
        "prod": env_state(
            "prod", ("", "x", ImageState("x", None, "1.0.0")), ("", "y", ImageState("y", None, "2.0.0"))
        ),
    }
    states["stage"] = {**states["stage"], **env_state("stage", ("", "y", ImageState("y", None, "1.0.0")))}
    lines = status_markdown(ENVS, status_rows(ENVS, states)).splitlines()
    assert (
        lines[2]
        == "| `-` | `x` | `3.0.0` ▲ | `2.0.0` ▲ | `1.0.0` | **dev ahead of stage; stage ahead of prod** |"
    )
    assert lines[3] == "| `-` | `y` | `-` | `1.0.0` | `2.0.0` | **differs** |"


def test_status_json_shape() -> None:
    rows = status_rows(ENVS, STATES)
    data = status_data(ENVS, rows)
    assert data["environments"] == ["dev", "stage", "prod"]
    assert data["images"][0] == {
        "app": "my-app",
        "image": APP,
        "environments": {
            "dev": {"newName": None, "tag": "sha-3", "digest": D2, "file": "my-app/dev/kustomization.yaml"},
            "stage": {
                "newName": None,
                "tag": "sha-2",
                "digest": D1,
                "file": "my-app/stage/kustomization.yaml",
            },
            "prod": {"newName": None, "tag": "sha-2", "digest": D1, "file": "my-app/prod/kustomization.yaml"},
        },
        "differs": True,
        "ahead": [],
    }
    assert [image["differs"] for image in data["images"]] == [True, False, True]
    text = status_json(ENVS, rows)
    assert text == json.dumps(data, indent=2) + "\n" and json.loads(text) == data
    missing = status_data(("dev", "qa"), status_rows(("dev", "qa"), STATES))
    assert missing["images"][0]["environments"]["qa"] is None
    assert status_data(ENVS, []) == {"environments": ["dev", "stage", "prod"], "images": []}


def test_status_text_aligned_without_colour() -> None:
    assert status_text(ENVS, status_rows(ENVS, STATES)) == (
        "APP     IMAGE               DEV                        STAGE                      "
        "PROD                       STATUS\n"
        f"my-app  {APP}  sha-3@sha256:222222222222  sha-2@sha256:111111111111  "
        "sha-2@sha256:111111111111  differs\n"
        "my-app  nginx               1.27.1                     1.27.1                     "
        "1.27.1                     same\n"
        "tool    tool                2.0.0 ^                    1.0.0                      "
        "1.0.1                      dev ahead of stage"
    )
    assert "\x1b" not in status_text(ENVS, status_rows(ENVS, STATES))
    assert status_text(ENVS, []) == "No images found in the overlays."


def test_status_text_with_colour_colours_only_the_ahead_cells_and_keeps_alignment() -> None:
    rows = status_rows(ENVS, STATES)
    plain = status_text(ENVS, rows).splitlines()
    coloured = status_text(ENVS, rows, color=True).splitlines()
    assert coloured[:3] == plain[:3]  # my-app's sha tags only differ: nothing is ahead
    assert coloured[3] == plain[3].replace("2.0.0 ^      ", "\x1b[33m2.0.0 ^\x1b[0m      ")


def test_status_text_escapes_control_characters() -> None:
    hostile = "x\x1b]0;pwned\x07"
    states = {"dev": env_state("dev", ("a\x1b[2J", hostile, ImageState(hostile, None, "v\x1b1")))}
    text = status_text(("dev",), status_rows(("dev",), states))
    assert "\x1b" not in text and "\x07" not in text
    assert "a\\x1b[2J  x\\x1b]0;pwned\\x07  v\\x1b1" in text


def test_rows_of_other_environments_are_refused() -> None:
    rows = status_rows(ENVS, STATES)
    for render in (status_markdown, status_data, status_text):
        with pytest.raises(ValueError, match="zip"):
            render(("dev", "stage"), rows)


def test_an_image_without_app_shows_a_dash_in_every_format() -> None:
    states = {"dev": env_state("dev", ("", "x", ImageState("x", None, "v1")))}
    rows = status_rows(("dev",), states)
    assert status_text(("dev",), rows).splitlines()[1] == "-    x      v1   same"
    assert status_markdown(("dev",), rows).splitlines()[2] == "| `-` | `x` | `v1` | same |"
    assert status_data(("dev",), rows)["images"][0]["app"] == ""
