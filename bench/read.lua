-- wrk script for `bench/run read`.
--
--   wrk ... -s bench/read.lua http://127.0.0.1:PORT -- PAIRS_FILE [secrets|health]
--
-- PAIRS_FILE holds one "TOKEN PATH" pair per line (written by bench/run). Each request picks a pair at random
-- and carries that pair's `Authorization: Bearer TOKEN` header:
--   secrets  GET /v1/secrets/PATH          (authenticated read: token lookup, policy, store read, decrypt, audit commit)
--   health   GET /v1/sys/health            (the baseline: same requests, same header, but no auth, store or audit)
-- and, for `bench/run read --breakdown` only (these answer non-2xx or use another token):
--   missing  GET /v1/secrets/PATH-missing  (404: token lookup, policy, store miss, audit commit; no decrypt)
--   metrics  GET /v1/sys/metrics           (with the root token given as a third argument: auth, audit commit; no store read)
-- The requests are formatted once per thread in init(), so the client spends as little CPU per request as it can
-- (wrk shares the machine's cores with the server) and both phases cost the client the same.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local requests = {}

function init(args)
  local file = args[1]
  local mode = args[2] or "secrets"
  if file == nil then
    error("read.lua: pass the pairs file after --")
  end
  local targets = {
    secrets = function(path) return "/v1/secrets/" .. path end,
    health = function(_) return "/v1/sys/health" end,
    missing = function(path) return "/v1/secrets/" .. path .. "-missing" end,
    metrics = function(_) return "/v1/sys/metrics" end,
  }
  if targets[mode] == nil then
    error("read.lua: mode must be secrets, health, missing or metrics, not '" .. mode .. "'")
  end
  if mode == "metrics" and args[3] == nil then
    error("read.lua: metrics needs the root token as a third argument")
  end

  for line in io.lines(file) do
    local token, path = line:match("^(%S+)%s+(%S+)$")
    if token ~= nil then
      local target = targets[mode](path)
      if mode == "metrics" then
        token = args[3]
      end
      requests[#requests + 1] = wrk.format("GET", target, {
        ["Host"] = wrk.host .. ":" .. wrk.port,
        ["Authorization"] = "Bearer " .. token,
        ["Accept"] = "application/json",
      })
    end
  end
  if #requests == 0 then
    error("read.lua: no 'TOKEN PATH' pairs in " .. file)
  end

  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  return requests[math.random(#requests)]
end
