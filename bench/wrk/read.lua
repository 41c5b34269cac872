-- Read-by-id: each request GETs a random Patient from the ids file named by the IDS variable.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time())
-- The bearer token from the TOKEN variable (bench/auth.py).
local auth = "Bearer " .. (os.getenv("TOKEN") or "")
request = function()
  return wrk.format("GET", "/fhir/Patient/" .. ids[math.random(#ids)], {["Accept"] = "application/fhir+json", ["Authorization"] = auth})
end
