-- Clinicians at work (issue 28's flood bench): each wrk thread is one clinician, with their own
-- bearer token (TOKENS: comma-separated, one a thread), reading a patient of theirs by id and
-- searching that patient's latest Observations, in turn, on the patients in the IDS file.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local tokens = {}
for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = token end
local index = 0

function setup(thread)
  index = index + 1
  thread:set("token", tokens[((index - 1) % #tokens) + 1])
end

function init(args)
  auth = "Bearer " .. token
  math.randomseed(os.time() + index)
  n = 0
end

request = function()
  n = n + 1
  local patient = ids[math.random(#ids)]
  local headers = {["Accept"] = "application/fhir+json", ["Authorization"] = auth}
  if n % 2 == 0 then
    return wrk.format("GET", "/fhir/Observation?subject=Patient/" .. patient .. "&_sort=-date&_count=20", headers)
  end
  return wrk.format("GET", "/fhir/Patient/" .. patient, headers)
end
