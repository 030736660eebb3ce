"""Time the same test files in two checkouts, alternating rounds: what a change to the tests'
fixtures saves.

    git archive BASE_COMMIT | tar -x -C /tmp/base      # the checkout to compare against
    .venv/bin/python bench/test_time.py --base /tmp/base tests/test_posts.py tests/test_admin.py
    .venv/bin/python bench/test_time.py --base /tmp/base --rounds 3 -k sqlite tests/test_media.py

Each round runs pytest once in the base checkout and once in this one (which goes first
alternates), with the same arguments, and records the wall time and the CPU time of pytest and
its children (PostgreSQL is not one of them: pg_ctl detaches it). CPU time swings far less than
wall time on a shared machine, so the ratio of CPU medians is the figure to quote; the load
average is printed with every run. A run that fails is reported and stops the benchmark: a
faster suite that fails measures nothing.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(checkout: Path, pytest_args: list[str]) -> tuple[float, float]:
    """One pytest run in `checkout`: (wall seconds, CPU seconds of pytest and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
        raise SystemExit(f"pytest failed in {checkout} (exit status {done.returncode})")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    args, pytest_args = parser.parse_known_args(argv)
    checkouts = {"base": args.base.resolve(), "this": REPO}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    for number in range(args.rounds):
        order = list(checkouts) if number % 2 == 0 else list(reversed(checkouts))
        for name in order:
            wall, cpu = run(checkouts[name], pytest_args)
            results[name].append((wall, cpu))
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"round {number + 1} {name:4s} wall {wall:7.1f} s  cpu {cpu:7.1f} s  load {load}")
    medians = {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in results.items()
    }
    for name, (wall, cpu) in medians.items():
        print(f"median {name:4s} wall {wall:7.1f} s  cpu {cpu:7.1f} s")
    wall_ratio = medians["this"][0] / medians["base"][0]
    cpu_ratio = medians["this"][1] / medians["base"][1]
    print(f"this / base: wall {wall_ratio:.2f}, cpu {cpu_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
