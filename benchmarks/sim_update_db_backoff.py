"""A model of N update-db writers racing on one machine, to choose the retry loop's backoff cap.

    python3 benchmarks/sim_update_db_backoff.py [--writers 200] [--slowdown 1 3] [--caps 5 30 60]

Not a measurement (bench_update_db_concurrency.py measures): a processor-sharing simulation,
seeded, of what the real benchmark runs. Each writer costs ``start`` CPU seconds (Python, input
checks), then per attempt ``fetch`` + ``edit`` + ``push`` CPU seconds on ``cores`` shared cores;
a push lands when no other push landed since this attempt's fetch, else the writer waits full
jitter ``uniform(0, min(cap, 0.2 * 2**(lost - 1)))`` (never past max-wait) and tries again.
``--slowdown`` multiplies every CPU cost (a machine shared with other work).

Calibrated against measured runs (docs/benchmarks.md, max-backoff 5 s): 30 writers 14.5 s total
and 8 attempts at most (model: 17 s, 8), 100 writers 58.6 s and 15 attempts (model: 58 s, 15).
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

START, FETCH, EDIT, PUSH = 0.3, 0.02, 0.03, 0.02  # CPU seconds, calibrated (see above)


@dataclass
class Outcome:
    landed: int
    total: float
    worst_wait: float
    most_attempts: int


def simulate(
    writers: int,
    cap: float,
    *,
    slowdown: float = 1.0,
    cores: float = 2.0,
    max_wait: float = 600.0,
    dt: float = 0.02,
    seed: int = 1,
) -> Outcome:
    rng = random.Random(seed)
    costs = [FETCH * slowdown, EDIT * slowdown, PUSH * slowdown]
    # phase: -1 starting, 0 fetch, 1 edit, 2 push, 3 waiting, 4 landed, 5 gave up
    phase, left = [-1] * writers, [START * slowdown] * writers
    seen, lost, attempts = [0] * writers, [0] * writers, [0] * writers
    first, wake, end = [0.0] * writers, [0.0] * writers, [0.0] * writers
    head, now = 0, 0.0
    while any(p < 4 for p in phase):
        running = [i for i in range(writers) if phase[i] <= 2]
        share = min(1.0, cores / len(running)) if running else 0.0
        for i in running:
            left[i] -= share * dt
            if left[i] > 0:
                continue
            if phase[i] == -1:
                phase[i], left[i], first[i], attempts[i] = 0, costs[0], now, 1
            elif phase[i] == 0:
                seen[i], phase[i], left[i] = head, 1, costs[1]
            elif phase[i] == 1:
                phase[i], left[i] = 2, costs[2]
            elif head == seen[i]:
                head, phase[i], end[i] = head + 1, 4, now
            else:
                lost[i] += 1
                elapsed = now - first[i]
                if elapsed >= max_wait:
                    phase[i], end[i] = 5, now
                    continue
                delay = rng.uniform(0, min(cap, 0.2 * 2 ** (lost[i] - 1)))
                phase[i], wake[i] = 3, now + min(delay, max_wait - elapsed)
        for i in range(writers):
            if phase[i] == 3 and now >= wake[i]:
                phase[i], left[i] = 0, costs[0]
                attempts[i] += 1
        now += dt
    return Outcome(phase.count(4), now, max(end), max(attempts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--slowdown", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--caps", type=float, nargs="+", default=[5.0, 30.0, 60.0])
    args = parser.parse_args()
    print("| writers | slowdown | backoff cap | landed | total | worst writer's wait | most attempts |")
    print("|---|---|---|---|---|---|---|")
    for slowdown in args.slowdown:
        for cap in args.caps:
            out = simulate(args.writers, cap, slowdown=slowdown)
            cells = [f"{args.writers}", f"{slowdown:g}x", f"{cap:g} s", f"{out.landed}/{args.writers}"]
            cells += [f"{out.total:.0f} s", f"{out.worst_wait:.0f} s", f"{out.most_attempts}"]
            print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
