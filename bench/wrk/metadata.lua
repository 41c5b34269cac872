-- GET /fhir/metadata, no token, as a client (or a scanner) that asks for it again and again would,
-- taking gzip as every browser and HTTP library does. With DELAY_MS each connection waits that long
-- between requests (a fixed-rate flood); without it, as fast as the server answers.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
request = function()
  return wrk.format("GET", "/fhir/metadata", {["Accept"] = "application/fhir+json", ["Accept-Encoding"] = "gzip"})
end
if delay_ms > 0 then
  delay = function()
    return delay_ms
  end
end
