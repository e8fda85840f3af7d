"""adapters/background.py: a check on another thread, its error re-raised on the caller's."""

from __future__ import annotations

import sys
import threading

import pytest

from gitops_release.adapters.background import Background
from gitops_release.errors import ConfigError


def test_result_waits_and_reraises_on_the_callers_thread() -> None:
    release = threading.Event()
    ran_on: list[str] = []

    def check() -> None:
        ran_on.append(threading.current_thread().name)
        release.wait(5)
        raise ConfigError("db/db.json: releases[0].tag is bad", fix="restore it")

    job = Background(check, name="test check")
    assert not ran_on or ran_on == ["test check"]
    release.set()
    with pytest.raises(ConfigError, match="releases"):
        job.result()
    assert ran_on == ["test check"]
    with pytest.raises(ConfigError, match="releases"):
        job.result()  # every time it is asked


def test_switch_interval_is_short_while_checks_run_and_restored_after() -> None:
    before = sys.getswitchinterval()
    gate = threading.Event()
    first, second = Background(lambda: gate.wait(5)), Background(lambda: gate.wait(5))
    assert sys.getswitchinterval() < before
    gate.set()
    first.result()
    second.result()
    assert sys.getswitchinterval() == before


def test_a_check_that_passes_returns_none() -> None:
    seen: list[int] = []
    Background(lambda: seen.append(1)).result()
    assert seen == [1]
