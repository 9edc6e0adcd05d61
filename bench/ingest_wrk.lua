-- wrk script for bench/ingest.py: POST /v1/events with a fresh batch_id per request.
--
-- MH_BODIES: file with one body template per line: the JSON body *after* its
--            batch_id value (the body is '{"batch_id":"' .. id .. template).
-- MH_TOKENS: file with one device token per line (requests cycle through them).
-- MH_GET:    when set, GET this path instead (no body, no token): the HTTP floor.
-- The last line printed is "WRKJSON {...}" with counts and latency percentiles (µs).

local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
end

local templates = {}
local tokens = {}
local counter = 0
local get_path = nil

function init(args)
  for line in io.lines(os.getenv("MH_BODIES")) do
    templates[#templates + 1] = line
  end
  for line in io.lines(os.getenv("MH_TOKENS")) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  get_path = os.getenv("MH_GET")
  math.randomseed(os.time() + thread_id)
  -- a random start so two runs never reuse a batch id
  counter = math.floor(os.time() % 100000) * 1000000
end

function request()
  if get_path then
    return wrk.format("GET", get_path)
  end
  counter = counter + 1
  local id = string.format("%08x-0000-7000-8%03x-%012x", os.time() % 4294967296, thread_id, counter)
  local body = '{"batch_id":"' .. id .. templates[(counter % #templates) + 1]
  local headers = {
    ["Authorization"] = tokens[(counter % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/v1/events", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
