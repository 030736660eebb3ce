-- wrk script for bench/bench.py: after the run, print one machine-readable line.
-- Latencies are in microseconds; "status" counts responses >= 400 (wrk's non-2xx/3xx).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50=%d p90=%d p95=%d p99=%d max=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
