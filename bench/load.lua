-- wrk script: GET one path with a bearer token taken in turn from a file of tokens;
-- count non-200 answers and requests per wall-clock second, and print one JSON line.
local tokens = {}
local counter = 0
non200 = 0
buckets = {}
local path = "/"
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  for line in io.lines(args[2]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  -- Each thread starts elsewhere in the list, so the threads do not send the same token together.
  counter = (id * 389) % #tokens
end

function request()
  counter = counter % #tokens + 1
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[counter]})
end

function response(status, headers, body)
  local second = os.time()
  buckets[second] = (buckets[second] or 0) + 1
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local total_non200 = 0
  local merged = {}
  for _, thread in ipairs(threads) do
    total_non200 = total_non200 + thread:get("non200")
    for second, count in pairs(thread:get("buckets")) do
      merged[second] = (merged[second] or 0) + count
    end
  end
  local pairs_out = {}
  for second, count in pairs(merged) do
    pairs_out[#pairs_out + 1] = string.format("[%d,%d]", second, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non200":%d,' ..
    '"socket_errors":%d,"per_second":[%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total_non200,
    e.connect + e.read + e.write + e.timeout, table.concat(pairs_out, ",")))
end
