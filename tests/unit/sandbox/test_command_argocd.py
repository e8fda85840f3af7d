"""`gitops-release sandbox`'s Argo CD inputs: Application files read and refused before anything
starts, repoURLs pointed at sandbox repositories, the emulator started and stopped beside GitHub's."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
import requests

from gitops_release.commands import sandbox as command
from gitops_release.commands.base import Context
from gitops_release.errors import InputError
from gitops_release.runtime import Console, InputReader

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source: {{repoURL: '{url}', path: apps/{name}, targetRevision: main}}
  destination: {{server: 'https://kubernetes.default.svc', namespace: {name}}}
"""


def read(**flags: str) -> command.Inputs:
    return command.Inputs.from_reader(InputReader(env={}, flags=flags))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_argocd_defaults() -> None:
    inputs = read()
    assert (inputs.argocd, inputs.argocd_port, inputs.argocd_token, inputs.argocd_refresh_interval) == (
        True,
        0,
        "argocd-sandbox-token",
        180.0,
    )
    assert (inputs.argocd_applications, dict(inputs.argocd_repos), inputs.argocd_admin_password) == (
        (),
        {},
        None,
    )


def test_application_files_and_directories_are_read_in_order(tmp_path: Path) -> None:
    write(tmp_path / "apps/b.yaml", APP.format(name="b", url="https://github.com/org/config"))
    write(
        tmp_path / "apps/a.yml",
        APP.format(name="a", url="https://github.com/org/config") + "---\n" + APP.format(name="a2", url="x"),
    )
    write(tmp_path / "apps/notes.txt", "not an app")
    single = write(tmp_path / "c.yaml", APP.format(name="c", url="https://github.com/org/config"))
    inputs = read(repositories="org/config", **{"argocd-applications": f"{tmp_path / 'apps'}\n{single}"})
    assert [app["metadata"]["name"] for _, app in inputs.argocd_applications] == ["a", "a2", "b", "c"]
    assert inputs.argocd_applications[0][0] == str(tmp_path / "apps/a.yml")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\nspec: {}\n", "document 1 is not an Application"),
        ("kind: Application\nspec: {}\n", "document 1 is not an Application"),
        ("kind: Application\nmetadata: {name: x}\n", "document 1 is not an Application"),
        (
            "---\nkind: Application\nmetadata: {name: x}\nspec: {}\n---\n- a\n",
            "document 2 is not an Application",
        ),
        ("kind: Application\nmetadata: {name: x\n", "is not valid YAML"),
        ("base: &b {name: x}\nkind: Application\nmetadata:\n  <<: *b\nspec: {}\n", "is not valid YAML"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            )
            + "kind: Application\nmetadata: {name: x}\nspec: {}\n",
            "is not valid YAML",
        ),
    ],
    ids=["other-kind", "no-metadata", "no-spec", "second-document", "syntax", "merge-key", "alias-bomb"],
)
def test_bad_application_files_are_refused_naming_file_and_document(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = write(tmp_path / "app.yaml", content)
    with pytest.raises(InputError) as info:
        read(**{"argocd-applications": str(path)})
    assert info.value.field == "argocd-applications"
    assert str(path) in str(info.value) and problem in str(info.value)


def test_missing_paths_empty_directories_and_symlinks_out_are_refused(tmp_path: Path) -> None:
    for flags, problem in (
        ({"argocd-applications": str(tmp_path / "nope.yaml")}, "is not a file or directory"),
        ({"argocd-applications": str((tmp_path / "empty").mkdir() or tmp_path / "empty")}, "holds no *.yaml"),
    ):
        with pytest.raises(InputError, match="argocd-applications") as info:
            read(**flags)
        assert problem in str(info.value)
    outside = write(tmp_path / "outside/secret.yaml", APP.format(name="s", url="x"))
    (tmp_path / "apps").mkdir()
    os.symlink(outside, tmp_path / "apps/link.yaml")
    with pytest.raises(InputError, match="is a symlink out of"):
        read(**{"argocd-applications": str(tmp_path / "apps")})


def test_a_huge_file_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "MAX_APPLICATION_FILE_BYTES", 100)
    path = write(tmp_path / "big.yaml", APP.format(name="x" * 200, url="x"))
    with pytest.raises(InputError, match="is larger than"):
        read(**{"argocd-applications": str(path)})


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (
            {"argocd-repos": "https://x/org/config.git=org/other", "repositories": "org/config"},
            "argocd-repos",
        ),
        ({"argocd-repos": "org/config", "repositories": "org/config"}, "argocd-repos"),
        ({"argocd-token": "two words"}, "argocd-token"),
        ({"argocd-port": "70000"}, "argocd-port"),
        ({"argocd-refresh-interval": "0s"}, "argocd-refresh-interval"),
        ({"argocd": "maybe"}, "argocd"),
    ],
)
def test_bad_argocd_inputs_name_the_input(flags: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as info:
        read(**flags)
    assert info.value.field == field


def test_applications_without_argocd_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", APP.format(name="a", url="x"))
    with pytest.raises(InputError, match="argocd is false"):
        read(argocd="false", **{"argocd-applications": str(path)})


def test_repo_urls_map_to_sandbox_repositories_by_owner_and_name(tmp_path: Path) -> None:
    docs = [
        APP.format(name="a", url="https://github.com/Org/Config.git"),
        APP.format(name="b", url="git@github.com:org/config"),
        APP.format(name="e", url="config"),
        APP.format(name="c", url="https://gitlab.example/team/infra/"),
        APP.format(name="d", url="https://elsewhere.example/x/y"),
    ]
    path = write(tmp_path / "apps.yaml", "---\n".join(docs))
    inputs = read(
        repositories="org/config,team/infra",
        **{"argocd-applications": str(path), "argocd-repos": "https://elsewhere.example/x/y=org/config"},
    )
    mapped, unmapped = command.repo_sources(
        inputs.argocd_applications, inputs.repositories, inputs.argocd_repos
    )
    assert mapped == {
        "https://elsewhere.example/x/y": "org/config",
        "https://github.com/Org/Config.git": "org/config",
        "git@github.com:org/config": "org/config",
        "https://gitlab.example/team/infra/": "team/infra",
    }
    assert unmapped == ["config"]


def run_in_thread(
    inputs: command.Inputs, tmp_path: Path
) -> tuple[dict[str, command.Outputs], io.StringIO, threading.Event, threading.Thread]:
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    stop = threading.Event()
    result: dict[str, command.Outputs] = {}
    thread = threading.Thread(target=lambda: result.setdefault("out", command.run(inputs, ctx, stop=stop)))
    thread.start()
    return result, err, stop, thread


def wait_for_line(err: io.StringIO, prefix: str, thread: threading.Thread) -> str:
    for _ in range(3000):  # bounded wait for the line, no timing assertion
        for line in err.getvalue().splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :]
        if not thread.is_alive():
            break
        threading.Event().wait(0.01)
    raise AssertionError(f"no line {prefix!r} in {err.getvalue()!r}")


def test_argocd_serves_beside_github_with_its_token_and_admin_login(tmp_path: Path) -> None:
    inputs = read(
        root=str(tmp_path / "sbx"), **{"argocd-token": "local-argocd", "argocd-admin-password": "pw"}
    )
    result, err, stop, thread = run_in_thread(inputs, tmp_path)
    try:
        url = wait_for_line(err, "Argo CD API sandbox: ", thread)
        assert "argocd token: local-argocd   (send 'Authorization: Bearer local-argocd')" in err.getvalue()
        listed = requests.get(
            f"{url}/api/v1/applications", headers={"Authorization": "Bearer local-argocd"}, timeout=10
        )
        assert (listed.status_code, listed.json()["items"]) == (200, [])
        login = requests.post(
            f"{url}/api/v1/session", json={"username": "admin", "password": "pw"}, timeout=10
        )
        assert login.status_code == 200 and login.json()["token"].count(".") == 2
    finally:
        stop.set()
        thread.join()
    outputs = result["out"]
    assert (outputs.argocd_url, outputs.argocd_token, outputs.argocd_requests) == (url, "local-argocd", 2)
    assert outputs.as_dict()["argocd-url"] == url
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/api/v1/applications", timeout=2)  # stopped with the command


def test_argocd_false_serves_github_only(tmp_path: Path) -> None:
    result, err, stop, thread = run_in_thread(read(root=str(tmp_path / "sbx"), argocd="false"), tmp_path)
    try:
        wait_for_line(err, "GitHub API sandbox: ", thread)
    finally:
        stop.set()
        thread.join()
    assert "Argo CD" not in err.getvalue()
    assert (result["out"].argocd_url, result["out"].argocd_token) == ("", "")


def test_a_taken_argocd_port_is_an_input_error_and_leaves_no_temporary_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ctx = Context(console=Console(env={}, out=io.StringIO(), err=io.StringIO()), env={}, workdir=tmp_path)
        with pytest.raises(InputError) as info:
            command.run(read(**{"argocd-port": str(port)}), ctx, stop=threading.Event())
    assert info.value.field == "argocd-port"
    assert not list(tmp_path.glob("gitops-release-sandbox-*"))
