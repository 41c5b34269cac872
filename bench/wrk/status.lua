-- The anonymous flood of the status page: GET /status, no cookie, no token, as everyone refreshing
-- it during an outage would, at a fixed rate: each connection waits DELAY_MS between requests.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "50")
local languages = {"da", "en", "da-DK,da;q=0.9,en;q=0.8"}
request = function()
  return wrk.format("GET", "/status", {["Accept-Language"] = languages[math.random(#languages)]})
end
delay = function()
  return delay_ms
end
