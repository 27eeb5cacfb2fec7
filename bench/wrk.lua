-- The request side of `make bench`, for wrk. Environment:
--   BENCH_METHOD   GET (default) or POST
--   BENCH_PATH     the path to request (default: the URL's)
--   BENCH_BODY     a fixed form body
--   BENCH_BODIES   a file with one form body per line, each sent once (fresh tokens)
--   BENCH_HEADERS  extra headers, "Name: value" separated by "|"
--   BENCH_THREADS  must equal wrk -t when BENCH_BODIES is used
--   BENCH_SESSION  "impersonate": every thread (one connection each) takes its own session
--                  cookie (line id+1 of the file BENCH_SESSIONS), then starts (user
--                  BENCH_TARGET) and stops an impersonation in turn, following the session
--                  cookie as it changes.
-- done() prints one line: RESULT {"rps":…,"p50_ms":…,"p99_ms":…,"non2xx":…,…}
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY")
local bodies_file = os.getenv("BENCH_BODIES")
local threads_n = tonumber(os.getenv("BENCH_THREADS") or "1")
local session = os.getenv("BENCH_SESSION")

local headers = {}
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = pair:match("^%s*([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if method == "POST" then headers["Content-Type"] = "application/x-www-form-urlencoded" end

local all_threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(all_threads, thread)
end

-- Impersonation start/stop: a small state machine per thread (one connection per thread).
local step, cookie = "start", nil
local start_body = "user_id=" .. (os.getenv("BENCH_TARGET") or "") .. "&reason=bench"
local json = { ["Accept"] = "application/json", ["Content-Type"] = "application/x-www-form-urlencoded" }

local bodies, index = nil, 0
reused = 0
function init(args)
  if session == "impersonate" then
    local n = 0
    for line in io.lines(os.getenv("BENCH_SESSIONS")) do
      if n == id then cookie = line end
      n = n + 1
    end
  end
  if bodies_file then
    bodies = {}
    local n = 0
    for line in io.lines(bodies_file) do
      if n % threads_n == id then bodies[#bodies + 1] = line end
      n = n + 1
    end
  end
end

local function copy_headers(extra)
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

-- A request that never changes is left to wrk, which then builds it once and sends it
-- without calling Lua: a Lua call per request costs the load tool CPU that, on the cores it
-- shares with the server, would otherwise serve requests.
if session == "impersonate" or bodies_file then
  function request()
    if session == "impersonate" then
      local h = copy_headers(json)
      if cookie then h["Cookie"] = cookie end
      if step == "start" then return wrk.format("POST", "/api/impersonation/start", h, start_body) end
      return wrk.format("POST", "/api/impersonation/stop", h, "")
    end
    index = index + 1
    if index > #bodies then index = 1; reused = reused + 1 end
    return wrk.format(method, path, copy_headers(), bodies[index])
  end
else
  wrk.method = method
  wrk.body = body
  wrk.headers = copy_headers()
  if path then wrk.path = path end
end

if session == "impersonate" then
  function response(status, hdrs, _)
    local set = hdrs["set-cookie"] or hdrs["Set-Cookie"]
    if set then cookie = set:match("^(guise_session=[^;]+)") or cookie end
    if step == "start" then
      if status == 200 then step = "stop" end
    else
      step = "start"
    end
  end
end

function done(summary, latency, requests)
  local again = 0
  for _, t in ipairs(all_threads) do again = again + (t:get("reused") or 0) end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'RESULT {"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"requests":%d,"secs":%.2f,"non2xx":%d,' ..
    '"socket_errors":%d,"timeouts":%d,"bodies_reused":%d}\n',
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, secs, e.status, e.connect + e.read + e.write, e.timeout, again))
end
