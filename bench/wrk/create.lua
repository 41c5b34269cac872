-- Create: each request POSTs a new Patient with a unique identifier.
local counter = 0
local thread_tag = tostring(math.random(1, 1e9))
-- The bearer token from the TOKEN variable (bench/auth.py).
local auth = "Bearer " .. (os.getenv("TOKEN") or "")
request = function()
  counter = counter + 1
  local body = '{"resourceType":"Patient","identifier":[{"system":"urn:lifeline:bench","value":"'
    .. thread_tag .. "-" .. counter .. '"}],"name":[{"family":"Jensen","given":["Mette"]}],'
    .. '"gender":"female","birthDate":"1975-04-12","address":[{"city":"Herlev","country":"DK"}]}'
  return wrk.format("POST", "/fhir/Patient", {["Content-Type"] = "application/fhir+json", ["Authorization"] = auth}, body)
end
