"""Run every benchmarks/bench_*.py in turn (what `make bench` calls); extra arguments are passed on.

    .venv/bin/python benchmarks/run_all.py [--write-docs]

Each benchmark runs in its own process with this interpreter (``sys.executable``, not a shim)
and prints its table. The exit code is 1 when any benchmark failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(script), *argv], cwd=HERE.parent, check=False)
        print(f"== {script.name}: exit {done.returncode} in {time.monotonic() - started:.1f} s\n", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
