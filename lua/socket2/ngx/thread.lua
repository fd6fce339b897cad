-- socket2/ngx/thread.lua: ngx.thread.spawn/wait/kill, ngx.timer.at/every,
-- ngx.sleep on socket2's threads (socket.newthread, join, kill), after
-- lua-nginx-module's README ("ngx.thread.spawn" to "ngx.timer.pending_count")
-- and src/ngx_http_lua_uthread.c, ngx_http_lua_timer.c:
-- - spawn runs the function up to its first wait before returning the
--   thread; an error in it ends that thread only (logged, and what wait
--   returns: false, err).
-- - wait(t1, ...) returns what the first of them to end returns, like
--   coroutine.resume: true, results... or false, err; a thread already
--   waited for (or killed) is skipped, or nil, 'already waited or killed'
--   when it is the last argument.
-- - kill(t) -> true, or nil, err ('already terminated', 'already waited or
--   killed', 'not user thread').
-- - timer.at(delay, f, ...) runs f(premature, ...) in a thread of its own
--   after delay seconds; every() again and again. shutdown() (not in nginx:
--   what a worker's exit does) runs every pending timer at once with
--   premature = true, and ngx.worker.exiting() is true from then on.
local socket = require'socket2'
local event = require'socket2.compat.event'

local type, select, unpack, error, pcall, tostring = type, select, unpack, error, pcall, tostring

local M = {}
local log -- set by socket2.ngx: function(level, ...)
function M.set_log(f) log = f end

local ERR = 4

local function pack(...) return {n = select('#', ...), ...} end

-- thread -> its record: {done = false | results (pack of ok, ...),
-- waited = false, waiters = {events}}
local threads = setmetatable({}, {__mode = 'k'})

local function finish(rec, ...)
  rec.done = pack(...)
  local w = rec.waiters
  rec.waiters = nil
  if w then
    for i = 1, #w do w[i]:signal(rec) end
  end
end

local function body(rec, f, ...)
  local r = pack(pcall(f, ...))
  if not r[1] then
    if log then log(ERR, 'lua user thread aborted: runtime error: ', tostring(r[2])) end
  end
  return finish(rec, unpack(r, 1, r.n))
end

function M.spawn(f, ...)
  if type(f) ~= 'function' then
    error(('bad argument #1 to \'spawn\' (function expected, got %s)'):format(type(f)), 2)
  end
  local rec = {done = false, waited = false, killed = false, waiters = nil}
  local t = socket.newthread(body, rec, f, ...)
  threads[t] = rec
  return t
end

local function results(rec)
  rec.waited = true
  local d = rec.done
  return unpack(d, 1, d.n)
end

function M.wait(...)
  local n = select('#', ...)
  if n == 0 then error('at least one coroutine should be specified', 2) end
  local live = {}
  for i = 1, n do
    local t = select(i, ...)
    local rec = threads[t]
    if not rec then error(('bad argument #%d to \'wait\' (lua thread expected)'):format(i), 2) end
    if rec.waited or rec.killed then
      if i == n and #live == 0 then return nil, 'already waited or killed' end
    elseif rec.done then
      return results(rec)
    else
      live[#live + 1] = rec
    end
  end
  if #live == 0 then return nil, 'already waited or killed' end
  local ev = event.new()
  for i = 1, #live do
    local rec = live[i]
    rec.waiters = rec.waiters or {}
    rec.waiters[#rec.waiters + 1] = ev
  end
  local first = ev:wait()
  for i = 1, #live do -- no longer waited on by us
    local w = live[i].waiters
    if w then
      for k = #w, 1, -1 do if w[k] == ev then table.remove(w, k) end end
    end
  end
  if first == nil then return nil, 'killed' end -- (only if the waiter's helper was killed)
  return results(first)
end

function M.kill(t)
  local rec = threads[t]
  if not rec then return nil, 'not user thread' end
  if rec.waited or rec.killed then return nil, 'already waited or killed' end
  if rec.done then return nil, 'already terminated' end
  if t == socket.currentthread() then return nil, 'killer not parent' end
  rec.killed = true
  socket.kill(t)
  finish(rec, false, 'killed')
  rec.waited = true
  return true
end

-- sleep ---------------------------------------------------------------------------

function M.sleep(s)
  if type(s) ~= 'number' then
    error(('bad argument #1 to \'sleep\' (number expected, got %s)'):format(type(s)), 2)
  end
  if s < 0 then error('invalid sleep duration "' .. tostring(s) .. '"', 2) end
  socket.sleep(s)
end

-- timers ----------------------------------------------------------------------------

local pending = {}   -- timer record -> true, while it waits for its time
local npending, nrunning = 0, 0
local exiting = false

local function run_cb(tm, premature)
  nrunning = nrunning + 1
  local ok, err = pcall(tm.f, premature, unpack(tm.args, 1, tm.args.n))
  nrunning = nrunning - 1
  if not ok and log then log(ERR, 'lua entry thread aborted: runtime error: ', tostring(err)) end
end

local function timer_thread(tm)
  while true do
    tm.sleeping = true
    socket.sleep(tm.delay)
    tm.sleeping = false
    if not pending[tm] then return end
    if not tm.every then
      pending[tm] = nil
      npending = npending - 1
    end
    if tm.every then
      -- every(): the next one starts when this one ends (nginx does the same)
      run_cb(tm, false)
      if not pending[tm] then return end
    else
      return run_cb(tm, false)
    end
  end
end

local function new_timer(delay, f, every, fname, ...)
  if type(delay) ~= 'number' or delay ~= delay then
    error(('bad argument #1 to \'%s\' (number expected, got %s)'):format(fname,
      delay ~= delay and 'NaN' or type(delay)), 3)
  end
  if type(f) ~= 'function' then error(('bad argument #2 to \'%s\' (Lua function expected)'):format(fname), 3) end
  if every and delay * 1000 < 1 then error('delay cannot be zero', 3) end
  if delay < 0 then error('bad argument #1 to \'' .. fname .. '\' (delay must not be negative)', 3) end
  if exiting and delay > 0 then return nil, 'process exiting' end -- (0: allowed, as in nginx)
  local tm = {delay = delay, f = f, every = every, args = pack(...), thread = false, sleeping = false}
  pending[tm] = true
  npending = npending + 1
  local ok, t = pcall(socket.newthread, timer_thread, tm)
  if not ok then
    pending[tm] = nil
    npending = npending - 1
    error(t, 0)
  end
  tm.thread = t
  return 1
end

function M.at(delay, f, ...) return new_timer(delay, f, false, 'at', ...) end
function M.every(delay, f, ...) return new_timer(delay, f, true, 'every', ...) end
function M.running_count() return nrunning end
function M.pending_count() return npending end

-- What a worker's exit does to timers: each pending one runs now, in a
-- thread of its own, with premature = true; new ones are refused. Returns
-- how many ran. reset() makes timers possible again (tests).
function M.shutdown()
  exiting = true
  -- the premature callbacks run now and may add timers (delay 0 is still
  -- allowed): take the pending ones first, never add to a table while
  -- pairs() walks it (a timer could be skipped, and never run or end)
  local list = {}
  for tm in pairs(pending) do list[#list + 1] = tm end
  local n = 0
  for i = 1, #list do
    local tm = list[i]
    pending[tm] = nil
    npending = npending - 1
    if tm.sleeping then -- (a running every() callback just ends its series)
      tm.sleeping = false
      if tm.thread then pcall(socket.kill, tm.thread) end
      socket.newthread(run_cb, tm, true)
      n = n + 1
    end
  end
  return n
end
function M.exiting() return exiting end
function M.reset() exiting = false end

return M
