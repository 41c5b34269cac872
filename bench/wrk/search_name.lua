-- Name-prefix search: each request GETs Patient?name=<prefix> for a random prefix from the file
-- named by the PREFIXES variable (one percent-encoded prefix per line).
local prefixes = {}
for line in io.lines(os.getenv("PREFIXES")) do prefixes[#prefixes + 1] = line end
math.randomseed(os.time())
-- The bearer token from the TOKEN variable (bench/auth.py).
local auth = "Bearer " .. (os.getenv("TOKEN") or "")
request = function()
  local prefix = prefixes[math.random(#prefixes)]
  return wrk.format("GET", "/fhir/Patient?name=" .. prefix, {["Accept"] = "application/fhir+json", ["Authorization"] = auth})
end
