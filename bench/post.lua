-- wrk script for bench/api.py and bench/peers.py: POST JSON with `Authorization: Api-Key` (BENCH_API_KEY), and
-- print the figures as one JSON line prefixed "BENCH " when the run ends.
-- The body: the file BENCH_BODY as it is (api.py), or the lines of BENCH_BODIES (one JSON document per line)
-- in turn (peers.py), each wrk thread starting at another line so that two threads do not send them in step.
-- Latencies are in microseconds; errors.status counts answers other than 2xx/3xx.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Api-Key " .. assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY is not set")

local bodies_path = os.getenv("BENCH_BODIES")
if bodies_path then
  local bodies = {}
  for line in io.lines(bodies_path) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  assert(#bodies > 0, "BENCH_BODIES holds no body")
  local threads_made = 0
  function setup(thread)
    thread:set("first", threads_made * 97)
    threads_made = threads_made + 1
  end
  local position
  function request()
    position = ((position or first or 0) % #bodies) + 1
    return wrk.format(nil, nil, nil, bodies[position])
  end
else
  local body_file = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY or BENCH_BODIES is not set"), "rb"))
  wrk.body = body_file:read("*a")
  body_file:close()
end

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
