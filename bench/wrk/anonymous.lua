-- The anonymous flood (issue 28): the login page, unauthenticated FHIR reads and searches, the
-- CapabilityStatement and the patients' portal, no cookie, no token,
-- as fast as the server answers (or DELAY_MS between requests). Each thread counts the statuses it
-- got; `done` prints them as "status <code> <count>" lines for bench/flood.py.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local threads = {}
local paths = {"/login", "/fhir/Patient/p1", "/fhir/metadata", "/portal", "/fhir/Observation?code=1234-5"}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  n = 0
end

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], {["Accept"] = "text/html,application/fhir+json"})
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

if delay_ms > 0 then
  delay = function()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
