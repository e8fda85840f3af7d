"""`make demo` stays working: the demo runs the whole flow end to end on the sandboxes and shows
each step's real effect (init writes both repositories, a build dispatches, update-db commits,
overlays status, a promotion by pull request and its merge, Argo CD syncing the merge while
await-argocd-sync shows its progress, report-status's commit status and deployment as the GitHub
sandbox stores them, a timed rollback of stage, the table of what runs where, a trace of the image
it shipped and the timeline).
No timed assertion: the rollback's time is printed, the test checks only that it is."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def demo() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gitops_release.sandbox.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    return out


def _one(pattern: str, out: str) -> re.Match[str]:
    match = re.search(pattern, out, re.MULTILINE)
    assert match, f"{pattern!r} not in the output:\n{out[-4000:]}"
    return match


def test_init_writes_both_repositories_which_are_pushed(demo: str) -> None:
    assert "$ gitops-release init source-repo --dir " in demo
    assert "created     .github/workflows/update-release-channel.yml" in demo
    assert "$ gitops-release init config-repo --dir " in demo
    assert "--repository org/my-app --config-repository org/config" in demo
    assert "created     .gitops-release.yml" in demo and "created     db/db.json" in demo
    assert re.search(r"… and \d+ more \(docs/init\.md lists every file\)", demo)
    assert len(re.findall(r"committed and pushed to the sandbox: [0-9a-f]{12} ", demo)) == 2
    # The Argo CD sandbox runs init's own Applications (infra/argocd-apps).
    assert "Applications my-app-dev and my-app-stage (auto-sync), my-app-prod (manual sync)," in demo


def test_the_build_dispatches_and_update_db_commits_once(demo: str) -> None:
    source = _one(r"committed and pushed to the sandbox: ([0-9a-f]{12}) 'ci: build and dispatch", demo)
    tag = f"sha-{source.group(1)[:8]}"  # the source repo's real commit
    assert f"--tag {tag} " in demo
    assert "sandbox recorded 1 dispatch(es)" in demo
    assert "builtAt" in demo and "from the commit's committer time in the git checkout" in demo
    assert "changed=true" in demo and "changed=false" in demo
    assert f"+    newTag: {tag}" in demo  # update-db's write-through of the dev overlay
    assert "payload.tag 'latest' is a mutable tag" in demo
    # JSON outputs are cut to one line; empty outputs are left out.
    assert re.search(r"^  releases=\[\{.*…$", demo, re.MULTILINE)
    assert "comment-id=\n" not in demo


def test_overlays_status_promotion_and_merge(demo: str) -> None:
    tag = _one(r"--tag (sha-[0-9a-f]{8}) ", demo).group(1)
    new, old = f"{tag}@sha256:3b3b3b3b3b3b", "sha-00000000"
    rows = re.findall(r"^  -    ghcr\.io/org/my-app +(\S+) +(\S+) +(\S+) +(\w+)$", demo, re.MULTILINE)
    # before the promotion, and at the end (after the rollback): the build only in dev
    assert rows == [(new, old, old, "differs"), (new, old, old, "differs")], demo[-4000:]
    assert "state: created" in demo and "pull request: #1 " in demo
    assert f"sandbox pull request #1: 'promote my-app:{tag} to stage'" in demo
    assert re.search(r"promote/stage/[0-9a-f]{10} -> main, labels: promotion, stage", demo)
    assert "merged: True" in demo
    assert "dev → prod is not the next step in dev → stage → prod: it skips stage" in demo


def test_argo_cd_syncs_the_merge_and_report_status_posts_success(demo: str) -> None:
    merge = _one(r"merged: True, merge commit ([0-9a-f]{12}) on main", demo).group(1)
    assert f"waiting up to 10m for my-app-stage at {merge} (stream)" in demo
    assert re.search(
        rf"^  my-app-stage: Synced · Healthy · rev {merge}[0-9a-f]{{28}} · done$", demo, re.MULTILINE
    )
    assert re.search(
        rf"evidence: my-app-stage done at {merge}, live .*ghcr\.io/org/my-app:sha-[0-9a-f]{{8}}@", demo
    )
    # What the GitHub sandbox stores for the merge commit: the commit status pending, then
    # success; one deployment to stage, in_progress then success, with Argo CD's application URL.
    shown = _one(rf"^  GitHub \(sandbox\) shows on {merge}:\n((?:    .*\n)+)", demo).group(1)
    assert "commit status argocd/my-app-stage: pending  Waiting for Argo CD to sync stage" in shown
    assert "commit status argocd/my-app-stage: success  Argo CD runs it in stage, Synced + Healthy" in shown
    assert re.search(r"deployment #\d+ to stage: in_progress → success\n", shown)
    assert f"Argo CD: my-app-stage Synced Healthy at {merge[:7]}" in shown
    assert re.search(r"environment url: http://127\.0\.0\.1:\d+/applications/argocd/my-app-stage", shown)


def test_rollback_reaches_synced_healthy_and_is_reported(demo: str) -> None:
    assert "$ gitops-release promote-overlay --to-env stage --revert true --mode commit" in demo
    assert "rollback in stage: 1 image" in demo and "state: committed" in demo
    rollback = _one(r"pushed ([0-9a-f]{12}) to main \(attempt 1\)\n\$ gitops-release await-argocd-sync", demo)
    sha = rollback.group(1)
    assert "--applications my-app-stage --refresh hard" in demo
    assert re.search(
        rf"^  my-app-stage: Synced · Healthy · rev {sha}[0-9a-f]{{28}} · done$", demo, re.MULTILINE
    )
    # The time is printed against seed 004's goal; its value is not asserted.
    assert re.search(
        r"^  rollback took \d+\.\d s from the rollback command to my-app-stage Synced \+ Healthy "
        r"\(seed 004's goal: within 5 minutes = 300 s\)$",
        demo,
        re.MULTILINE,
    )
    shown = _one(rf"^  GitHub \(sandbox\) shows on {sha}:\n((?:    .*\n)+)", demo).group(1)
    assert "commit status argocd/my-app-stage: success" in shown
    assert re.search(r"deployment #\d+ to stage: success\n", shown)


def test_ends_with_the_environment_image_table_and_the_timeline(demo: str) -> None:
    rollback = _one(r"pushed ([0-9a-f]{12}) to main \(attempt 1\)\n\$ gitops-release await-argocd-sync", demo)
    table = demo[demo.index("Where each image runs now") :]
    assert re.search(r"APP  IMAGE +DEV +STAGE +PROD +STATUS", table)
    assert "ENVIRONMENT  APPLICATION    STATE             REVISION      IMAGES" in table
    assert re.search(
        r"dev +my-app-dev +Synced · Healthy +[0-9a-f]{12} +.*my-app:sha-[0-9a-f]{8}@sha256:", table
    )
    assert re.search(
        rf"stage +my-app-stage +Synced · Healthy +{rollback.group(1)} "
        r"+my-app-worker:sha-00000000, my-app:sha-00000000$",
        table,
        re.MULTILINE,
    )
    assert re.search(
        r"prod +my-app-prod +Synced · Healthy +[0-9a-f]{12} +.*my-app:sha-00000000$", table, re.MULTILINE
    )
    timeline = demo[demo.index("== Timeline") :]
    steps = re.findall(r"^  \+ *(\d+\.\d) s +(\d+\.\d) s  (.+)$", timeline, re.MULTILINE)
    titles = [title for _, _, title in steps]
    assert titles[0] == "Start the sandboxes (127.0.0.1 only)"
    for expected in (
        "init source-repo",
        "init config-repo",
        "dispatch-update",
        "update-db",
        "promote-overlay",
        "merges the pull request",
        "await-argocd-sync",
        "report-status from the evidence",
        "Rollback of stage",
        "Where each image runs now",
        "trace: where is the image it shipped",
    ):
        assert any(expected in title for title in titles), (expected, titles)
    offsets = [float(offset) for offset, _, _ in steps]
    assert offsets == sorted(offsets)
    assert re.search(r"^  total \d+\.\d s$", timeline, re.MULTILINE)
    # every step's header carries its offset too
    assert len(re.findall(r"\033\[0m  \(\+\d+\.\d s\)$", demo, re.MULTILINE)) == len(steps)


def test_ends_with_a_trace_of_the_image_it_shipped(demo: str) -> None:
    tag = _one(r"--tag (sha-[0-9a-f]{8}) ", demo).group(1)
    shipped = f"ghcr.io/org/my-app:{tag}@sha256:{'3b' * 32}"
    start = demo.index(f"$ gitops-release trace {shipped} --argocd-server http://127.0.0.1:")
    table = demo[start : demo.index("--format markdown", start)]
    # dev: dispatched (update-db), live in Argo CD; stage: promoted by PR #1, then rolled back.
    assert re.search(r"^  dev +yes +yes +\S.*dispatch by ", table, re.MULTILINE), table
    assert re.search(
        r"^  stage +no +no +- +promote from dev, PR #1 .*sha-00000000 \(rollback\)$", table, re.MULTILINE
    )
    assert re.search(r"^  prod +no +no +- +- ", table, re.MULTILINE), table
    # dev got it by update-db's write-through (no promotion, no deployment status expected) and
    # stage's promotion has its deployment status: no gap.
    assert not re.search(r"^ *gap\b", table, re.MULTILINE), table
    markdown = demo[demo.index("--format markdown", start) :]
    assert "| dev | ✅ yes | ✅ yes (my-app-dev) |" in markdown
    assert "```mermaid\n  gantt\n" in markdown and "  section stage\n" in markdown
    assert "**gap**" not in markdown


def test_every_request_matched_the_api_contracts(demo: str) -> None:
    assert "OpenAPI validation on, 0 violations" in demo
    assert "Argo CD API request(s), Swagger validation on, 0 violations" in demo
    assert "demo finished" in demo
