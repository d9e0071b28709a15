-- wrk script: load on engram-api's REST gateway with distinct requests, so the response cache does
-- not flatter the figures (docs/benchmarks.md, "The whole suite", REST rows).
--
--   wrk -t2 -c8 -d5s --latency -s bench/rest_load.lua http://127.0.0.1:51080 -- get    KEY [IDS] [NS]
--   wrk -t2 -c8 -d5s --latency -s bench/rest_load.lua http://127.0.0.1:51080 -- search KEY [IDS] [NS]
--
-- get:    GET /v1/namespaces/NS/concepts/bench-<random 0..IDS-1>   (ids loaded by api_load_bench)
-- search: POST /v1/namespaces/NS/search {"query": three pseudo-words + a unique token, "k": 10}
-- NS defaults to "bench", IDS to 100000. Non-2xx answers are counted by wrk ("Non-2xx").

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local op, headers, ids, ns, run_id
local counter = 0
local onsets = { "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z" }
local vowels = { "a", "e", "i", "o", "u" }

function init(args)
  op = args[1] or "get"
  if op ~= "get" and op ~= "search" then error("rest_load.lua: op must be get or search") end
  headers = { ["Content-Type"] = "application/json" }
  if args[2] then headers["Authorization"] = "Bearer " .. args[2] end
  ids = tonumber(args[3] or "100000")
  ns = args[4] or "bench"
  -- Distinct across runs too (a repeated run must not hit the response cache of the previous one).
  run_id = os.time()
  math.randomseed(run_id * 100 + thread_id)
end

local function word()
  local w = ""
  for _ = 1, math.random(2, 3) do
    w = w .. onsets[math.random(#onsets)] .. vowels[math.random(#vowels)]
  end
  return w
end

function request()
  counter = counter + 1
  if op == "get" then
    return wrk.format("GET", "/v1/namespaces/" .. ns .. "/concepts/bench-" .. math.random(0, ids - 1), headers)
  end
  local query = word() .. " " .. word() .. " " .. word() .. " q" .. run_id .. "t" .. thread_id .. "x" .. counter
  return wrk.format("POST", "/v1/namespaces/" .. ns .. "/search", headers,
                    '{"query": "' .. query .. '", "k": 10}')
end
