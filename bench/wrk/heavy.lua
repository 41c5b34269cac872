-- One staff member's heavy searches (issue 28): a thousand resources a page, and the history of
-- a type, as fast as answered from every connection, with the token in TOKEN. Counts statuses as
-- bench/wrk/anonymous.lua does (429: their own concurrency limit).
local auth = "Bearer " .. (os.getenv("TOKEN") or "")
local threads = {}
local paths = {"/fhir/Observation?_count=1000", "/fhir/Patient/_history?_count=1000", "/fhir/Patient?_count=1000"}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  n = 0
end

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], {["Accept"] = "application/fhir+json", ["Authorization"] = auth})
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
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
