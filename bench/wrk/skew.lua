-- Issue 27's skewed case (bench/skew.py): each request GETs a random path from the PATHS file
-- (one a line, below /fhir/, already percent-encoded) with the bearer token from TOKEN. At the
-- end it prints the line bench/skew.py reads: the 95th percentile wrk itself does not print, and
-- the failures it saw (answers other than 2xx/3xx, and requests past wrk's --timeout).
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local auth = "Bearer " .. (os.getenv("TOKEN") or "")
local headers = {["Accept"] = "application/fhir+json", ["Authorization"] = auth}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(os.time() * 100 + seed)
end

request = function()
  return wrk.format("GET", "/fhir/" .. paths[math.random(#paths)], headers)
end

done = function(summary, latency, requests)
  io.write(string.format("skew p50_us %d p95_us %d p99_us %d requests %d non2xx %d timeouts %d\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.requests,
    summary.errors.status, summary.errors.timeout))
end
