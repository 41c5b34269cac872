-- Requests to a list of paths, in turn, counting the answers by status (bench/flood.py: the
-- anonymous flood and the heavy user). PATHS: the paths, separated by spaces; TOKEN: a bearer
-- token, if any; DELAY_MS: a pause between a connection's requests (0: as fast as answered).
-- `done` prints the counts as "status <code> <count>" lines.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local token = os.getenv("TOKEN") or ""
local paths = {}
for path in string.gmatch(os.getenv("PATHS") or "/", "%S+") do paths[#paths + 1] = path end
local headers = {["Accept"] = "text/html,application/fhir+json"}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  n = 0
end

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
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
