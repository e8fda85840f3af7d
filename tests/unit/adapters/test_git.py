"""Unit tests of the git adapter: argument lists, environment, redaction, backoff, rejection detection."""

from __future__ import annotations

import base64
import random
import subprocess
from pathlib import Path

import pytest

from gitops_release import runtime
from gitops_release.adapters import git as gitmod
from gitops_release.adapters.git import (
    CommitIdentity,
    Git,
    GitResult,
    backoff_delay,
    commit_and_push,
    failure_fix,
    has_credentials,
    is_push_rejection,
)
from gitops_release.errors import ConfigError, GitError, InputError

TOKEN = "ghs_unitsecrettoken987654"


class Recorder:
    """Stands in for subprocess.run: records argv/env, answers with a canned result."""

    def __init__(self, rc: int = 0, out: str = "", err: str = "") -> None:
        self.calls: list[dict[str, object]] = []
        self.rc, self.out, self.err = rc, out, err

    def __call__(self, argv, **kwargs):
        self.calls.append({"argv": argv, **kwargs})
        return subprocess.CompletedProcess(argv, self.rc, self.out, self.err)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(gitmod.subprocess, "run", rec)
    return rec


def test_run_passes_an_argument_list_never_a_shell_string(tmp_path: Path, recorder: Recorder) -> None:
    Git(tmp_path).run("commit", "-m", "x")
    call = recorder.calls[0]
    assert call["argv"] == ["git", "commit", "-m", "x"]
    assert call.get("shell", False) is False
    assert call["cwd"] == tmp_path
    assert call["timeout"] == 300


def test_hostile_values_reach_git_literally(tmp_path: Path) -> None:
    """A message with spaces, ';', '$(…)' and backticks is one argv element, not shell syntax."""
    hostile = "a b; touch pwned; $(touch pwned2) `touch pwned3` 'q' \"dq\" | cat > pwned4"
    gitmod_git = Git(tmp_path)
    gitmod_git.run("init", "--quiet")
    result = gitmod_git.run("commit-tree", gitmod_git.run("write-tree").out.strip(), input=hostile)
    sha = result.out.strip()
    assert gitmod_git.run("log", "-1", "--format=%B", sha).out.strip() == hostile.strip()
    # and as an argument: git receives it verbatim (it is not a valid ref, so rev-parse echoes it back)
    echoed = gitmod_git.run("rev-parse", "--sq-quote", hostile).out.strip()
    assert echoed == "'" + hostile.replace("'", "'\\''") + "'"
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())


def test_environment_disables_prompts_sets_identity_and_no_token_by_default(tmp_path: Path) -> None:
    g = Git(tmp_path, identity=CommitIdentity("Bot", "bot@example.invalid"), env={"EXTRA": "1"})
    assert g.env["GIT_TERMINAL_PROMPT"] == "0"
    assert g.env["GIT_AUTHOR_NAME"] == g.env["GIT_COMMITTER_NAME"] == "Bot"
    assert g.env["GIT_AUTHOR_EMAIL"] == g.env["GIT_COMMITTER_EMAIL"] == "bot@example.invalid"
    assert g.env["EXTRA"] == "1"
    assert not any("extraheader" in v for k, v in g.env.items() if k.startswith("GIT_CONFIG_KEY_"))


def test_token_goes_into_git_config_env_as_extraheader_and_is_registered(
    tmp_path: Path, recorder: Recorder
) -> None:
    g = Git(tmp_path, token=TOKEN)
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    count = int(g.env["GIT_CONFIG_COUNT"])
    pairs = {g.env[f"GIT_CONFIG_KEY_{i}"]: g.env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}
    assert pairs["http.extraheader"] == f"AUTHORIZATION: basic {encoded}"
    g.run("fetch", "origin")
    argv = recorder.calls[0]["argv"]
    assert isinstance(argv, list)
    assert not any(TOKEN in a or encoded in a for a in argv)
    assert runtime.redact(f"x {TOKEN} {encoded}") == "x *** ***"


def test_existing_git_config_count_is_appended_to_not_overwritten(tmp_path: Path) -> None:
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "y"}
    g = Git(tmp_path, token=TOKEN, env=env)
    assert g.env["GIT_CONFIG_KEY_0"] == "core.x"
    keys = [g.env[f"GIT_CONFIG_KEY_{i}"] for i in range(int(g.env["GIT_CONFIG_COUNT"]))]
    assert keys[0] == "core.x" and "http.extraheader" in keys


def test_failure_raises_redacted_one_line_git_error_with_fix(tmp_path: Path, recorder: Recorder) -> None:
    recorder.rc = 128
    recorder.err = (
        f"remote: Invalid username or token {TOKEN}\n"
        f"fatal: Authentication failed for 'https://github.com/o/r.git/' {TOKEN}\n"
    )
    with pytest.raises(GitError) as info:
        Git(tmp_path, token=TOKEN).run("push", "origin", "HEAD:refs/heads/main")
    err = info.value
    assert err.rc == 128
    assert TOKEN not in str(err) and TOKEN not in err.stderr
    assert "git push failed (exit 128)" in err.message
    assert "Authentication failed" in err.message
    assert err.fix is not None and "contents: write" in err.fix
    assert "\n" not in err.one_line()


def test_without_a_token_an_auth_failure_says_no_token_was_given(tmp_path: Path, recorder: Recorder) -> None:
    recorder.rc = 128
    recorder.err = "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n"
    with pytest.raises(GitError) as info:
        Git(tmp_path).run("ls-remote", "https://github.com/o/r.git")
    fix = info.value.fix or ""
    assert fix.startswith("no token was given") and "set the token input" in fix and "lacks" not in fix
    with pytest.raises(GitError) as info:
        Git(tmp_path, token=TOKEN).run("ls-remote", "https://github.com/o/r.git")
    assert (info.value.fix or "").startswith("the token lacks contents: write")


def test_protected_branch_fix_names_no_mode_and_the_line_has_one_period(
    tmp_path: Path, recorder: Recorder
) -> None:
    """update-db has no 'mode': the fix says what to do; git's line ends with '.', then '. Fix:'."""
    recorder.rc = 1
    recorder.out = (
        "To /r.git\n!\tHEAD:refs/heads/main\t[remote rejected] (protected branch hook declined)\nDone\n"
    )
    recorder.err = "remote: error: GH006: Protected branch update failed for refs/heads/main.\n"
    with pytest.raises(GitError) as info:
        Git(tmp_path).run("push", "--porcelain", "origin", "HEAD:refs/heads/main")
    line = info.value.one_line()
    assert "refs/heads/main.." not in line and "for refs/heads/main. Fix: the branch is protected" in line
    assert "mode" not in line and "bypass the branch protection rule or ruleset" in line


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://x-access-token:ghp_abc@github.com/acme/config.git", True),
        ("https://ghp_abc@github.com/acme/config.git", True),
        ("HTTP://user@github.com/acme/config.git", True),
        ("ssh://git:secret@github.com/acme/config.git", True),
        ("user:secret@host:acme/config.git", True),
        ("https://github.com/acme/config.git", False),
        ("ssh://git@github.com/acme/config.git", False),
        ("git@github.com:acme/config.git", False),
        ("file:///tmp/a@b/config.git", False),
        ("../config@2.git", False),
        ("origin", False),
    ],
)
def test_has_credentials(remote: str, expected: bool) -> None:
    assert has_credentials(remote) is expected


def test_a_url_with_credentials_is_refused_naming_the_commands_input(tmp_path: Path) -> None:
    def edit(_: Path) -> str:
        raise AssertionError("must not be called")

    url = f"https://x-access-token:{TOKEN}@github.com/o/r.git"
    with pytest.raises(InputError) as info:
        commit_and_push(tmp_path / "c", url, "main", edit)
    assert info.value.field == "remote" and TOKEN not in info.value.one_line()
    with pytest.raises(InputError) as info:
        commit_and_push(tmp_path / "c", url, "main", edit, remote_input="repository")
    assert info.value.field == "repository"


def test_check_false_returns_result(tmp_path: Path, recorder: Recorder) -> None:
    recorder.rc, recorder.out, recorder.err = 1, "o", "e"
    assert Git(tmp_path).run("diff", "--quiet", check=False) == GitResult(1, "o", "e")


def test_log_receives_redacted_command_lines(tmp_path: Path, recorder: Recorder) -> None:
    lines: list[str] = []
    runtime.register_secret(TOKEN)
    Git(tmp_path, log=lines.append).run("remote", "add", "origin", f"https://x/{TOKEN}")
    assert lines == ["$ git remote add origin https://x/***"]


def test_timeout_becomes_git_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(gitmod.subprocess, "run", slow)
    with pytest.raises(GitError, match="did not finish within 7s"):
        Git(tmp_path).run("fetch", timeout=7)


def test_missing_directory_is_a_clear_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="does not exist") as info:
        Git(tmp_path / "nope").run("status")
    assert info.value.fix


@pytest.mark.parametrize(
    ("stderr", "needle"),
    [
        ("fatal: Authentication failed for 'https://github.com/o/r/'", "contents: write"),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            "contents: write",
        ),
        ("remote: Permission to o/r.git denied to github-actions[bot].", "contents: write"),
        ("fatal: unable to access 'https://x/': The requested URL returned error: 403", "contents: write"),
        ("remote: Repository not found.\nfatal: repository 'https://github.com/o/r/' not found", "URL"),
        ("fatal: '/tmp/x' does not appear to be a git repository", "URL"),
        ("fatal: not a git repository (or any of the parent directories): .git", "clone"),
        ("warning: Could not find remote branch dev to clone.\nfatal: Remote branch dev not found", "branch"),
        ("fatal: couldn't find remote ref refs/heads/dev", "branch"),
        ("remote: error: GH006: Protected branch update failed for refs/heads/main.", "bypass"),
        ("fatal: detected dubious ownership in repository at '/github/workspace'", "safe.directory"),
        ("fatal: unable to access 'https://x/': Could not resolve host: x", "network"),
    ],
)
def test_common_failures_get_a_fix(stderr: str, needle: str) -> None:
    fix = failure_fix(stderr)
    assert fix is not None and needle in fix


def test_unknown_failure_has_no_specific_fix() -> None:
    assert failure_fix("fatal: something new") is None


@pytest.mark.parametrize(
    "text",
    [
        " ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs",
        " ! [rejected]        HEAD -> main (non-fast-forward)",
        "!\tHEAD:refs/heads/main\t[rejected] (fetch first)",
        "!\tHEAD:refs/heads/main\t[rejected] (stale info)",
        " ! [remote rejected] HEAD -> main (failed to update ref)",
        "error: cannot lock ref 'refs/heads/main': is at abc but expected def",
        "hint: Updates were rejected because the remote contains work that you do",
    ],
)
def test_push_rejections_are_detected(text: str) -> None:
    assert is_push_rejection(text)


@pytest.mark.parametrize(
    "text",
    [
        "fatal: Authentication failed for 'https://github.com/o/r/'",
        "fatal: '/tmp/gone.git' does not appear to be a git repository",
        " ! [remote rejected] HEAD -> main (pre-receive hook declined)",
        "remote: error: GH006: Protected branch update failed for refs/heads/main.\n"
        " ! [remote rejected] HEAD -> main (protected branch hook declined)",
        "error: remote unpack failed: unable to create temporary object directory",
    ],
)
def test_other_push_failures_are_not_rejections(text: str) -> None:
    assert not is_push_rejection(text)


def test_backoff_is_full_jitter_capped_and_reproducible_with_a_seed() -> None:
    delays = [backoff_delay(a, backoff=0.2, max_backoff=1.0, rng=random.Random(7)) for a in range(6)]
    again = [backoff_delay(a, backoff=0.2, max_backoff=1.0, rng=random.Random(7)) for a in range(6)]
    assert delays == again
    caps = [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    expected = [random.Random(7).uniform(0, cap) for cap in caps]
    assert delays == pytest.approx(expected)
    assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))


def test_backoff_samples_cover_the_whole_interval() -> None:
    rng = random.Random(1)
    samples = [backoff_delay(2, backoff=0.5, max_backoff=10, rng=rng) for _ in range(500)]
    assert max(samples) <= 2.0 and min(samples) >= 0
    assert min(samples) < 0.2 and max(samples) > 1.8  # full jitter, not "cap plus noise"


def test_zero_backoff_means_no_wait() -> None:
    assert backoff_delay(3, backoff=0, max_backoff=5, rng=random.Random(0)) == 0


def test_commit_and_push_validates_arguments_before_touching_anything(tmp_path: Path) -> None:
    def edit(_: Path) -> str:
        raise AssertionError("must not be called")

    with pytest.raises(InputError, match="max-attempts"):
        commit_and_push(tmp_path / "c", str(tmp_path), "main", edit, max_attempts=0)
    with pytest.raises(InputError, match="branch"):
        commit_and_push(tmp_path / "c", str(tmp_path), "--upload-pack=x", edit)
    with pytest.raises(InputError, match="credentials"):
        commit_and_push(tmp_path / "c", f"https://x-access-token:{TOKEN}@github.com/o/r.git", "main", edit)
    assert not (tmp_path / "c").exists()


def test_a_non_clone_directory_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not the top of a git clone"):
        commit_and_push(work, str(tmp_path / "remote.git"), "main", lambda _: "m")
    assert (work / "notes.txt").read_text() == "mine"


def test_header_is_reset_then_set_and_scoped_to_an_http_remote(tmp_path: Path) -> None:
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    g = Git(tmp_path, token=TOKEN, auth_url="https://github.com/org/config.git")
    count = int(g.env["GIT_CONFIG_COUNT"])
    entries = [(g.env[f"GIT_CONFIG_KEY_{i}"], g.env[f"GIT_CONFIG_VALUE_{i}"]) for i in range(count)]
    key = "http.https://github.com/org/config.git.extraheader"
    assert entries[-2:] == [(key, ""), (key, f"AUTHORIZATION: basic {encoded}")]
    # a non-http remote (file://, ssh) keeps the generic key
    local = Git(tmp_path, token=TOKEN, auth_url="file:///srv/config.git")
    keys = [local.env[f"GIT_CONFIG_KEY_{i}"] for i in range(int(local.env["GIT_CONFIG_COUNT"]))]
    assert keys.count("http.extraheader") == 2


def test_changed_files_with_empty_paths_is_nothing_and_paths_are_literal(
    tmp_path: Path, recorder: Recorder
) -> None:
    assert Git(tmp_path).changed_files([]) == []
    assert recorder.calls == []
    Git(tmp_path).changed_files(["db/*.json"])
    argv = recorder.calls[0]["argv"]
    assert argv[:3] == ["git", "--literal-pathspecs", "status"] and argv[-2:] == ["--", "db/*.json"]


def test_remote_head_branch_reads_the_symref_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = Recorder(out=f"ref: refs/heads/master\tHEAD\n{'a' * 40}\tHEAD\n")
    monkeypatch.setattr(gitmod.subprocess, "run", answer)
    assert Git(tmp_path).remote_head_branch("origin") == ("master", "")
    assert answer.calls[0]["argv"] == ["git", "ls-remote", "--symref", "--", "origin", "HEAD"]
    monkeypatch.setattr(gitmod.subprocess, "run", Recorder(out=f"{'a' * 40}\tHEAD\n"))
    assert Git(tmp_path).remote_head_branch("origin") == (None, "the remote's HEAD names no branch")
    monkeypatch.setattr(gitmod.subprocess, "run", Recorder(rc=128, err="fatal: repository 'x' not found\n"))
    assert Git(tmp_path).remote_head_branch("x") == (None, "fatal: repository 'x' not found")
