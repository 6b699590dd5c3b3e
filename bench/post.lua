-- wrk script for bench/api.py: POST one JSON body (read from BENCH_BODY) with `Authorization: Api-Key`
-- (BENCH_API_KEY), and print the figures as one JSON line prefixed "BENCH " when the run ends.
-- Latencies are in microseconds; errors.status counts answers other than 2xx/3xx.

local body_file = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set"), "rb"))
wrk.method = "POST"
wrk.body = body_file:read("*a")
body_file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Api-Key " .. assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY is not set")

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
