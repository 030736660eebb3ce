"""Check bench/open_loop.py against a real server, and against wrk on the same server.

    .venv/bin/python bench/open_loop_check.py                  # 3 rounds, 10 s a run
    .venv/bin/python bench/open_loop_check.py --rounds 1 --seconds 5

Run by hand (needs Debian's `wrk` and `taskset`); never from pytest.

The server is bench/baseline_app.py (bare Flask, a constant 20,000-byte page) under gunicorn
with the blog's worker settings (bench/baseline.conf.py), pinned to CPU 0 as the small box is;
both clients run on CPU 1 (under SCHED_FIFO when run as root). Each round, one after the other
(so a shared machine's load weighs on all alike):
- wrk, one connection: the latency of an answer with no queue (closed loop, c=1), and
  open_loop.py on one connection at a quarter of that rate (the two clients' own latency compared);
- wrk, 200 connections: the server's capacity C, and its latency (by Little's law the mean is
  close to 200 / C, whatever the server does);
- open_loop.py, 200 connections, at 50 req/s and at 0.5, 0.8, 1.0 and 1.3 times that round's C.

What the figures must show (printed at the end): at a low rate the open-loop latency is the
unloaded one (close to wrk's c=1); well under C it stays low, at or above C it grows with the
run (the saturation is shown, not hidden); above C the open loop cannot get more answers than
wrk did (the two clients agree on the capacity); and Little's law holds for both (mean in
flight = rate x mean latency: 200 for wrk, far fewer for the open loop under C).
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH)]

import load_test  # noqa: E402  (free_port, stop_server)
import open_loop  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
REALTIME = os.geteuid() == 0  # both clients under SCHED_FIFO, as bench/small_box.py runs them
WRK_LUA = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    "CHECK requests=%d duration_us=%d p50=%d p99=%d max=%d mean=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, math.floor(latency.mean), summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


def start_baseline(port: int, log: Path) -> subprocess.Popen:
    command = ["taskset", "-c", str(SERVER_CPU), sys.executable, "-m", "gunicorn",
               "-c", str(BENCH / "baseline.conf.py"), "-b", f"127.0.0.1:{port}"]  # fmt: skip
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=BENCH.parent, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    load_test.stop_server(server)
    raise RuntimeError(f"the baseline server did not answer; see {log}")


def run_wrk(port: int, connections: int, seconds: float, script: Path) -> dict:
    command = ["taskset", "-c", str(CLIENT_CPU), *(["chrt", "--fifo", "1"] if REALTIME else []),
               "wrk", f"-t{min(2, connections)}",
               f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
               f"http://127.0.0.1:{port}/"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next(x for x in done.stdout.splitlines() if x.startswith("CHECK "))
    values = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
    rate = values["requests"] / (values["duration_us"] / 1e6)
    return {"rate": rate, "p50": values["p50"] / 1000, "p99": values["p99"] / 1000,
            "max": values["max"] / 1000, "mean": values["mean"] / 1000,
            "errors": values["errors"], "in_flight": rate * values["mean"] / 1e6,
            "sent_p50": values["p50"] / 1000}  # fmt: skip


def row(name: str, figures: dict) -> str:
    return (f"{name:<36}{figures['rate']:>9,.0f}{figures['p50']:>9.1f}{figures['p99']:>9.1f}"
            f"{figures['max']:>9.1f}{figures['mean']:>9.1f}{figures['in_flight']:>9.1f}"
            f"{figures['errors']:>7}{figures['sent_p50']:>9.1f}{figures['server_cpu']:>7.0%}"
            f"{figures['server_cpu'] / max(figures['rate'], 1) * 1000:>8.2f}  "
            f"{figures.get('note', '')}")  # fmt: skip


def timed(server: subprocess.Popen, run, *args) -> dict:
    """run(*args)'s figures, with the share of one CPU the server used meanwhile."""
    before, clock = load_test.server_cpu_seconds(server), time.monotonic()
    figures = run(*args)
    elapsed = time.monotonic() - clock
    figures["server_cpu"] = (load_test.server_cpu_seconds(server) - before) / elapsed
    return figures


def open_row(port: int, rate: float, seconds: float, connections: int = 200) -> dict:
    load = open_loop.Load(f"http://127.0.0.1:{port}", ["/"], connections, rate, seconds)
    summary = open_loop.measure_in_process(load, {CLIENT_CPU}, REALTIME)
    lat = summary.latency_ms
    growth = " -> ".join(f"{p50:.0f}" for p50, _ in summary.slice_ms)
    notes = [f"client {summary.client_cpu:.0%} CPU, wakes {summary.client_lag_ms[0]:.2f} ms "
             f"late (p50)", f"p50 by part {growth} ms"]  # fmt: skip
    if summary.saturated:
        notes.append("SATURATED")
    notes += ["CLIENT FAILED: " + problem for problem in summary.client_problems]
    return {"rate": summary.achieved_rate, "p50": lat["p50"], "p99": lat["p99"],
            "max": lat["max"], "mean": lat["mean"], "errors": summary.error_count
            - summary.errors["unsent"], "in_flight": summary.achieved_rate * lat["mean"] / 1000,
            "note": "; ".join(notes), "sent_p50": summary.service_ms["p50"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed (Debian: apt-get install {tool})", file=sys.stderr)
            return 2
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"open-loop-check-{os.getpid()}"
    folder.mkdir()
    script = folder / "check.lua"
    script.write_text(WRK_LUA)
    port = load_test.free_port()
    server = start_baseline(port, folder / "gunicorn.log")
    policy = "SCHED_FIFO" if REALTIME else "normal priority (not root)"
    print(f"bare Flask (20,000-byte page) on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU} "
          f"({policy}); {load_test.commit_described()}")  # fmt: skip
    print(f"{'run':<36}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'mean ms':>9}"
          f"{'in fl.':>9}{'errors':>7}{'sent p50':>9}{'server':>7}{'srv ms':>8}")  # fmt: skip
    try:
        for number in range(1, args.rounds + 1):
            print(f"round {number}, load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
            alone = timed(server, run_wrk, port, 1, args.seconds, script)
            print(row("wrk, 1 connection", alone))
            rate = round(alone["rate"] / 4)
            one = timed(server, open_row, port, rate, args.seconds, 1)
            print(row(f"open loop, 1 conn., {rate:,} req/s", one))
            capacity = timed(server, run_wrk, port, 200, args.seconds, script)
            print(row("wrk, 200 connections", capacity))
            for label, rate in [("50 req/s", 50.0)] + [
                (f"{share:g} x wrk's ({share * capacity['rate']:,.0f} req/s)",
                 share * capacity["rate"]) for share in (0.5, 0.8, 1.0, 1.3)
            ]:  # fmt: skip
                figures = timed(server, open_row, port, rate, args.seconds)
                print(row(f"open loop, {label}", figures), flush=True)
    finally:
        load_test.stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)
    print(
        "columns: req/s achieved; latency from the due time for the open loop, from the send "
        "for wrk; 'in fl.' = req/s x mean latency (Little's law); errors without unsent; 'sent "
        "p50': from the send (what a closed-loop client counts); server: the share of one CPU "
        "the server used; 'srv ms': the server's CPU time an answer"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
