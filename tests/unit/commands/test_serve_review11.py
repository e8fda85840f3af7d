"""Review 11a reproductions for commands/serve.py (each fails on main 1222a46)."""

from __future__ import annotations

import pytest

from gitops_release.commands import serve
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader


def inputs(flags: dict[str, str], env: dict[str, str] | None = None) -> serve.Inputs:
    return serve.Inputs.from_reader(InputReader(env=env or {}, flags=flags))


@pytest.mark.parametrize("url", ["http://git.example.com/org/config.git", "HTTP://git.example.com/o/c"])
def test_a_git_token_is_never_sent_to_a_plain_http_remote(url):
    """The token goes to git as `Authorization: basic <base64(x-access-token:TOKEN)>`: over
    http:// anyone on the path reads it (reproduced with a listener on 127.0.0.1 that logged
    the header). serve must refuse the combination before anything starts."""
    with pytest.raises(InputError) as caught:
        inputs({"git-url": url, "branch": "main"}, env={"GITOPS_RELEASE_GIT_TOKEN": "ghp_" + "x" * 36})
    assert caught.value.field in ("git-url", "GITOPS_RELEASE_GIT_TOKEN")
