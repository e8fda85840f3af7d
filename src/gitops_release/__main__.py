"""``python -m gitops_release``: how scripts/action-run.sh and the container image start the CLI."""

import gc
import sys

from gitops_release.cli import main

exit_code = main()
# The interpreter's shutdown collections walk every object PyGithub and requests left behind
# (~40,000) again and again: ~0.2 s of a ~0.7 s report-status step (docs/benchmarks.md). Frozen
# objects are skipped by the collector; atexit handlers, module teardown and the flush of
# stdout/stderr still run, so nothing written is lost.
gc.freeze()
sys.exit(exit_code)
