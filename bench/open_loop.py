"""Open-loop HTTP/1.1 load: requests at a fixed rate, latency counted from when each was due.

    .venv/bin/python bench/open_loop.py http://127.0.0.1:8000 / /about/ --rate 200 --seconds 10
    .venv/bin/python bench/open_loop.py http://127.0.0.1:8000 --paths-file paths.txt \\
        --connections 200 --rate 1000 --expect-header "X-Cache: HIT" --order random

Run by hand or from bench/small_box.py (`measure`, or `measure_in_process` for a separate
process); never from pytest.

A closed-loop client such as wrk keeps every connection busy: each sends its next request the
moment the last answer arrives. With C connections the mean latency is then C / throughput
whatever the server does (Little's law), and while the server stalls the client stops asking,
so the stall is hardly seen (coordinated omission). People reading a site do not wait for each
other. Here the requests follow a timetable fixed before the run: `--rate` R in all, spread
over `--connections` N keep-alive connections, the k-th request of connection i due at
t0 + i/R + k*N/R (so one every 1/R seconds across the client). A connection whose previous
answer is late sends its next request as soon as that answer arrives, and the latency of every
request is counted from the moment it was due, not from when it could be sent (wrk2's
correction). A server that cannot keep up therefore shows latencies that grow with the run.
The CLI's exit status is 1 when the measurement failed (the client fell behind) or any request
erred (unsent ones included).

Decisions:
- asyncio streams and the standard library only: the figures below are for a server on one
  core answering cached pages (a few thousand a second at most), and the client's own cost, a
  few dozen microseconds a request, is measured and printed with every run (its CPU time and
  how late it woke for requests whose connection was idle). uvloop or a C client would only
  matter far above that.
- Every request that was due in the run counts in the percentiles. Answered ones (any status)
  at their latency; one given up after `--timeout`, or still waiting to be sent when the run
  ended (its connection stuck behind a slow answer), at the time it had waited then: a lower
  bound, so a saturated server can only look worse, never better. Connection failures have no
  latency; they are errors. Every error kind is counted apart (status, header, connect, read,
  timeout, unsent).
- The client judges itself: if it used more than CLIENT_CPU_LIMIT of its core, or woke more
  than 10 ms late for more than CLIENT_LATE_LIMIT of the requests whose connection was idle,
  the run is a FAILED MEASUREMENT (its latencies include the client's own delay) and says so
  first, instead of printing figures as if they were the server's.
- A connection the server closed while idle (gunicorn lets a kept-alive connection go after
  5 s without a request, which happens at low rates per connection) is opened again before the
  next request and counted as a reconnect, not an error; one closed while a request is on it is
  a read error. Nothing is ever retried.
- On a shared CPU a Python client wakes late: with one busy process beside it on its core, a
  client at normal priority woke 23 ms late at the median and 614 ms at p99 (so its run was a
  failed measurement), at nice -10 0.7 / 8 ms, under SCHED_FIFO 0.2 / 0.45 ms (measured, 7
  December 2026). `measure_in_process(..., realtime=True)` runs it so (`chrt --fifo 1`); it
  uses a fraction of a core, and the kernel keeps 5% of every second for other tasks anyway.
- asyncio's default loop (epoll). epoll takes its timeout in whole milliseconds, rounded up,
  so a timer fires 0.4-0.6 ms late at the median; select() fires at 0.2 ms but cost 60% more
  CPU with 200 connections (55% of a core against 34% at 1,200 req/s, same run): the lateness
  is printed with every run, and is small beside the 100 ms the box is judged on.
- Connections are opened before t0, so the first requests do not pay for the handshake; one
  that cannot be opened is tried again at its next due request.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LATE_MS = 10  # a request sent this much after its due time counts as late
CLIENT_CPU_LIMIT = 0.85  # share of one core above which the client cannot be trusted
CLIENT_LATE_LIMIT = 0.01  # share of idle-connection requests the client may wake late for
QUANTILES = (0.50, 0.90, 0.99, 0.999)
ERROR_KINDS = ("status", "header", "connect", "read", "timeout", "unsent")


@dataclass
class Load:
    """What to send: `rate` requests/s in all over `connections`, for `seconds`."""

    base: str  # http://host:port
    paths: list[str]
    connections: int = 200
    rate: float = 200.0
    seconds: float = 10.0
    expect_header: str | None = None  # "X-Cache: HIT": the answer must carry it
    order: str = "round-robin"  # or "random"
    timeout: float = 10.0
    seed: int = 1
    slices: int = 4  # latency by part of the run, to show a trend


@dataclass
class Summary:
    """What a run measured (the figures printed; JSON between processes)."""

    load: Load
    due: int = 0  # requests whose due time fell in the run
    sent: int = 0
    answered: int = 0  # answers received, any status
    answered_in_run: int = 0  # ... of them, received before the run's end
    seconds: float = 0.0  # the run's length as timed
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, p99.9, max, mean
    counted: int = 0  # requests in the percentiles
    service_ms: dict[str, float] = field(default_factory=dict)  # answered: from the send, as wrk
    slice_ms: list[tuple[float, float]] = field(default_factory=list)  # (p50, p99) by part
    errors: dict[str, int] = field(default_factory=dict)
    late_waiting: int = 0  # sent > LATE_MS late: the previous answer on its connection was late
    late_client: int = 0  # sent > LATE_MS late with the connection idle: the client was late
    idle_sends: int = 0  # requests whose connection was idle at their due time
    client_lag_max_ms: float = 0.0
    client_lag_ms: tuple[float, float] = (0.0, 0.0)  # p50, p99 of the wake-ups' lateness
    client_cpu: float = 0.0  # CPU seconds of the client's thread / the run's seconds
    client_us_per_request: float = 0.0
    reconnects: int = 0  # idle connections the server had closed, opened again
    response_bytes: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def intended_rate(self) -> float:
        return self.load.rate

    @property
    def achieved_rate(self) -> float:
        return self.answered_in_run / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def client_problems(self) -> list[str]:
        """Why the client's figures cannot be trusted (empty when they can)."""
        problems = []
        if self.client_cpu > CLIENT_CPU_LIMIT:
            problems.append(
                f"the client used {self.client_cpu:.0%} of its core (limit "
                f"{CLIENT_CPU_LIMIT:.0%}): it could not keep to the timetable"
            )
        if self.idle_sends and self.late_client > CLIENT_LATE_LIMIT * self.idle_sends:
            problems.append(
                f"the client woke more than {LATE_MS} ms late for {self.late_client:,} of "
                f"{self.idle_sends:,} requests whose connection was idle (limit "
                f"{CLIENT_LATE_LIMIT:.0%}; its CPU was taken by something else)"
            )
        return problems

    @property
    def saturated(self) -> bool:
        """The server did not keep up with the rate: answers fell behind the timetable."""
        unsent = self.errors.get("unsent", 0) + self.errors.get("timeout", 0)
        return self.achieved_rate < 0.95 * self.intended_rate or unsent > 0.001 * self.due

    def p(self, name: str) -> float:
        return self.latency_ms.get(name, math.nan)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Summary:
        data = json.loads(text)
        data["load"] = Load(**data["load"])
        data["slice_ms"] = [tuple(pair) for pair in data["slice_ms"]]
        data["client_lag_ms"] = tuple(data["client_lag_ms"])
        return cls(**data)


# --- HTTP/1.1 ----------------------------------------------------------------------------------


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as expected."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], int, bool]:
    """One response, read fully: (status, headers, body bytes, whether the server closes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"bad status line {lines[0][:60]!r}")
    status = int(rest[:3])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    closes = headers.get("connection", "").lower() == "close" or (
        version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive"
    )
    if "chunked" in headers.get("transfer-encoding", "").lower():
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            chunk = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if chunk == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then a blank line
                    pass
                break
            await reader.readexactly(chunk + 2)
            size += chunk
    elif "content-length" in headers:
        size = int(headers["content-length"])
        await reader.readexactly(size)
    elif status in (204, 304) or 100 <= status < 200:
        size = 0
    else:  # the body runs to the end of the connection
        size = len(await reader.read())
        closes = True
    return status, headers, size, closes


# --- the run -----------------------------------------------------------------------------------


class Run:
    """The shared state of one run: the timetable, the recorded figures."""

    def __init__(self, load: Load):
        url = urlsplit(load.base)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"an http:// base URL is needed, not {load.base!r}")
        if not load.paths or load.connections < 1 or load.rate <= 0 or load.seconds <= 0:
            raise ValueError("paths, connections >= 1, rate > 0 and seconds > 0 are needed")
        self.load = load
        self.host, self.port = url.hostname, url.port or 80
        prefix = url.path.rstrip("/")
        host_header = self.host if self.port == 80 else f"{self.host}:{self.port}"
        self.requests = [
            (f"GET {prefix}{path} HTTP/1.1\r\nHost: {host_header}\r\n"
             "User-Agent: blog-bench-open-loop\r\nAccept: */*\r\n\r\n").encode("latin-1")
            for path in load.paths
        ]  # fmt: skip
        self.expect = None
        if load.expect_header:
            name, _, value = load.expect_header.partition(":")
            self.expect = (name.strip().lower(), value.strip())
        self.rng = random.Random(load.seed)
        self.next_path = 0
        self.latencies: list[float] = []  # seconds, every request counted
        self.finished: list[tuple[float, float]] = []  # (answer time - t0, latency) if answered
        self.summary = Summary(load=load)
        self.errors: Counter = Counter()
        self.statuses: Counter = Counter()
        self.lags: list[float] = []  # how late the client woke for each idle connection's send
        self.service: list[float] = []  # answered requests: from the send to the whole answer

    def request(self) -> bytes:
        if self.load.order == "random":
            return self.rng.choice(self.requests)
        self.next_path = (self.next_path + 1) % len(self.requests)
        return self.requests[self.next_path]

    def count(self, latency: float, finished: float | None = None) -> None:
        self.latencies.append(latency)
        if finished is not None:
            self.finished.append((finished - self.t0, latency))

    async def open(self):
        return await asyncio.open_connection(self.host, self.port, limit=2**20)

    async def connection(self, index: int, first) -> None:
        """Connection `index`'s share of the timetable: requests index, index + N, ... of the
        run's `total`, request j due at t0 + j/R."""
        loop = asyncio.get_running_loop()
        load, summary = self.load, self.summary
        numbers = iter(range(index, self.total, load.connections))
        streams = first
        for number in numbers:
            due = self.t0 + number / load.rate
            now = loop.time()
            idle = now < due
            if idle:
                summary.idle_sends += 1
                await asyncio.sleep(due - now)
                now = loop.time()
                lag = now - due
                self.lags.append(lag)
                if lag > LATE_MS / 1000:
                    summary.late_client += 1
            elif now - due > LATE_MS / 1000:
                summary.late_waiting += 1
            if now >= self.t_end and not idle:  # behind a slow answer until the end: never sent
                for late in (number, *numbers):
                    self.unsent(self.t0 + late / load.rate)
                break
            summary.due += 1
            if streams is not None and streams[0].at_eof():
                streams[1].close()  # closed by the server while idle: open it again
                streams = None
                summary.reconnects += 1
            if streams is None:
                try:
                    async with asyncio.timeout(load.timeout):
                        streams = await self.open()
                except (OSError, TimeoutError):
                    self.errors["connect"] += 1
                    continue
            streams = await self.exchange(streams, due)
        if streams is not None:
            streams[1].close()

    def unsent(self, due: float) -> None:
        """A request due in the run that was never sent: its connection was still waiting for
        an earlier answer when the run ended."""
        self.summary.due += 1
        self.errors["unsent"] += 1
        self.count(self.t_end - due)  # a lower bound of its latency

    async def exchange(self, streams, due: float):
        """Send one request on the connection and read its answer; the connection to use next
        (None when it was closed)."""
        loop = asyncio.get_running_loop()
        reader, writer = streams
        self.summary.sent += 1
        sent_at = loop.time()
        try:
            async with asyncio.timeout(self.load.timeout):
                writer.write(self.request())
                status, headers, size, closes = await read_response(reader)
        except TimeoutError:
            self.errors["timeout"] += 1
            self.count(loop.time() - due, loop.time())  # a lower bound
            writer.close()
            return None
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ProtocolError, ValueError):  # fmt: skip
            self.errors["read"] += 1
            writer.close()
            return None
        done = loop.time()
        self.count(done - due, done)
        self.service.append(done - sent_at)
        summary = self.summary
        summary.answered += 1
        if done <= self.t_end:
            summary.answered_in_run += 1
        summary.response_bytes += size
        self.statuses[status] += 1
        if status >= 400:
            self.errors["status"] += 1
        elif self.expect and headers.get(self.expect[0]) != self.expect[1]:
            self.errors["header"] += 1
        if closes:
            writer.close()
            return None
        return streams

    async def run(self) -> Summary:
        load = self.load
        loop = asyncio.get_running_loop()
        opened = await asyncio.gather(
            *(self.open() for _ in range(load.connections)), return_exceptions=True
        )
        first = [None if isinstance(item, BaseException) else item for item in opened]
        cpu_before = time.thread_time()
        self.t0 = loop.time() + 0.05
        self.t_end = self.t0 + load.seconds
        self.total = math.floor(load.seconds * load.rate + 1e-6)  # requests due in the run
        await asyncio.gather(*(self.connection(i, first[i]) for i in range(load.connections)))
        finished = loop.time()
        summary = self.summary
        summary.seconds = load.seconds
        cpu = time.thread_time() - cpu_before
        summary.client_cpu = cpu / max(finished - self.t0, 1e-9)
        summary.client_us_per_request = cpu / max(summary.sent, 1) * 1e6
        summary.errors = {kind: self.errors.get(kind, 0) for kind in ERROR_KINDS}
        summary.status_counts = {str(k): v for k, v in sorted(self.statuses.items())}
        summary.counted = len(self.latencies)
        summary.latency_ms = latency_figures(self.latencies)
        summary.service_ms = latency_figures(self.service)
        summary.slice_ms = self.slices()
        lags = sorted(self.lags)
        summary.client_lag_ms = (quantile(lags, 0.5) * 1000, quantile(lags, 0.99) * 1000)
        summary.client_lag_max_ms = lags[-1] * 1000 if lags else 0.0
        return summary

    def slices(self) -> list[tuple[float, float]]:
        """(p50, p99) in ms of the answers (and timeouts) that came in each part of the run:
        under a rate the server cannot keep up with they grow from part to part. Those after
        the run's end count in the last part."""
        parts = [[] for _ in range(self.load.slices)]
        width = self.load.seconds / self.load.slices
        for offset, latency in self.finished:
            parts[min(int(offset / width), self.load.slices - 1)].append(latency)
        return [
            (quantile(sorted(part), 0.5) * 1000, quantile(sorted(part), 0.99) * 1000)
            if part else (math.nan, math.nan)
            for part in parts
        ]  # fmt: skip


def quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of a sorted list (NaN when empty)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def latency_figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    figures = {f"p{q * 100:g}": quantile(ordered, q) * 1000 for q in QUANTILES}
    figures["max"] = ordered[-1] * 1000 if ordered else math.nan
    figures["mean"] = sum(ordered) / len(ordered) * 1000 if ordered else math.nan
    return figures


def measure(load: Load) -> Summary:
    """Run the load in this process (its own event loop, in this thread)."""
    return asyncio.run(Run(load).run())


def measure_in_process(load: Load, cpus: set[int] | None = None, realtime: bool = False
                       ) -> Summary:  # fmt: skip
    """Run the load in a new Python process, so that nothing else in the caller (threads, an
    SMTP server) takes the client's time: pinned to `cpus` if given, and with `realtime` (root
    only) under SCHED_FIFO, so that it wakes on time whatever else runs on its CPU."""
    command = [sys.executable, str(Path(__file__).resolve()), load.base, *load.paths,
               "--connections", str(load.connections), "--rate", str(load.rate),
               "--seconds", str(load.seconds), "--order", load.order,
               "--timeout", str(load.timeout), "--seed", str(load.seed),
               "--slices", str(load.slices), "--json", "-"]  # fmt: skip
    if load.expect_header:
        command += ["--expect-header", load.expect_header]
    if realtime:
        command = ["chrt", "--fifo", "1", *command]
    if cpus:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=load.seconds + 2 * load.timeout + 120
    )
    if done.returncode != 0:
        raise RuntimeError(f"open_loop.py failed ({done.returncode}): {done.stderr[-2000:]}")
    return Summary.from_json(done.stdout)


# --- the report --------------------------------------------------------------------------------


def describe(summary: Summary) -> list[str]:
    """The run's figures as printed lines, the client's verdict on itself first."""
    load, lines = summary.load, []
    problems = summary.client_problems
    if problems:
        lines.append("FAILED MEASUREMENT: the client could not keep up; these latencies include")
        lines.append("its own delay and say nothing reliable about the server:")
        lines += [f"  - {problem}" for problem in problems]
    lat, digits = summary.latency_ms, 0 if load.rate >= 10 else 2
    lines.append(
        f"load             {load.rate:,.{digits}f} req/s intended over {load.connections} "
        f"connections for {load.seconds:g} s ({load.order}, {len(load.paths)} paths); achieved "
        f"{summary.achieved_rate:,.{digits}f} req/s "
        f"({summary.answered_in_run:,} answers in the run, "
        f"{summary.due:,} due, {summary.sent:,} sent)"
    )
    lines.append(
        f"latency ms       p50 {lat['p50']:.1f}, p90 {lat['p90']:.1f}, p99 {lat['p99']:.1f}, "
        f"p99.9 {lat['p99.9']:.1f}, max {lat['max']:.1f}, mean {lat['mean']:.1f} (from each "
        f"request's due time; {summary.counted:,} requests)"
    )
    service = summary.service_ms
    lines.append(
        f"from the send ms p50 {service['p50']:.1f}, p99 {service['p99']:.1f}, max "
        f"{service['max']:.1f} (answered requests, as a closed-loop client counts)"
    )
    parts = ", ".join(f"{p50:.1f}/{p99:.1f}" for p50, p99 in summary.slice_ms)
    lines.append(f"answers by part  p50/p99 ms in each {load.seconds / load.slices:g} s: {parts}")
    errors = ", ".join(f"{summary.errors.get(kind, 0):,} {kind}" for kind in ERROR_KINDS)
    statuses = ", ".join(f"{code}: {n:,}" for code, n in summary.status_counts.items())
    header = f" (expected {load.expect_header!r})" if load.expect_header else ""
    lines.append(f"errors           {errors}{header}; statuses {statuses or 'none'}")
    lines.append(
        f"sent late > {LATE_MS} ms {summary.late_waiting:,} behind a late answer on their "
        f"connection, {summary.late_client:,} by the client itself (of {summary.idle_sends:,} "
        f"on an idle connection; its wake-ups late by p50 {summary.client_lag_ms[0]:.2f}, "
        f"p99 {summary.client_lag_ms[1]:.2f}, max {summary.client_lag_max_ms:.1f} ms)"
    )
    lines.append(
        f"client           {summary.client_cpu:.0%} of one core, "
        f"{summary.client_us_per_request:.0f} us CPU a request; {summary.reconnects:,} "
        f"reconnects (idle connections closed by the server); "
        f"{summary.response_bytes / max(summary.answered, 1):,.0f} bytes an answer"
    )
    if summary.saturated:
        lines.append(
            "SERVER SATURATED: answers fell behind the timetable (achieved rate under 95% of "
            "the intended, or requests still unsent or timed out at the end); the latencies "
            "grow with the run's length"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("base", help="http://host:port (paths are appended)")
    parser.add_argument("paths", nargs="*", help="paths to ask for, e.g. / /about/")
    parser.add_argument("--paths-file", type=Path, help="one path a line (added to the paths)")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second in all")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--order", choices=("round-robin", "random"), default="round-robin")
    parser.add_argument("--expect-header", help='e.g. "X-Cache: HIT"; an answer without it is '
                        "an error")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for one answer")
    parser.add_argument("--seed", type=int, default=1, help="for --order random")
    parser.add_argument("--slices", type=int, default=4, help="parts of the run to report")
    parser.add_argument("--json", help="write the figures as JSON to this file ('-': stdout)")
    args = parser.parse_args(argv)
    paths = list(args.paths)
    if args.paths_file:
        paths += [line.strip() for line in args.paths_file.read_text().splitlines()]
    paths = [path for path in paths if path] or ["/"]
    load = Load(base=args.base, paths=paths, connections=args.connections, rate=args.rate,
                seconds=args.seconds, expect_header=args.expect_header, order=args.order,
                timeout=args.timeout, seed=args.seed, slices=args.slices)  # fmt: skip
    summary = measure(load)
    if args.json == "-":
        print(summary.to_json())
        return 0
    if args.json:
        Path(args.json).write_text(summary.to_json())
    print("\n".join(describe(summary)))
    print(f"load average     {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if summary.client_problems or summary.error_count else 0


if __name__ == "__main__":
    sys.exit(main())
