"""Run a CPU-bound check on another thread while the main thread waits for a subprocess.

The main thread spends git's run time blocked in ``poll`` with the GIL released, so a check on a
second thread uses the machine's other core (update-db: the stored releases are checked while git
adds and commits, docs/benchmarks.md). ``result()`` joins and re-raises what the check raised.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

# While a check runs, hand the GIL back to the main thread quickly when git finishes: the default
# 5 ms switch interval would add up to 5 ms after every git command.
_SWITCH_INTERVAL = 0.0005
_lock = threading.Lock()
_running = 0
_saved_interval = sys.getswitchinterval()


class Background:
    """``fn()`` started on a daemon thread now; ``result()`` waits for it and re-raises."""

    def __init__(self, fn: Callable[[], None], *, name: str = "background check") -> None:
        self._fn = fn
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        _enter()
        try:
            self._thread.start()
        except BaseException:
            _leave()
            raise

    def _run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread by result()
            self._error = exc
        finally:
            _leave()

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _enter() -> None:
    global _running, _saved_interval
    with _lock:
        if _running == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_SWITCH_INTERVAL, _saved_interval))
        _running += 1


def _leave() -> None:
    global _running
    with _lock:
        _running -= 1
        if _running == 0:
            sys.setswitchinterval(_saved_interval)
