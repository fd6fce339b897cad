-- socket2/threads.lua: what a program does with threads (coroutines run by
-- the scheduler, sched.lua): run, join, kill, suspend/resume, sleep, and
-- the handler of threads that die of an error.
local sched = require'socket2.sched'
local errors = require'socket2.errors'
local args = require'socket2.args'

local co_status, unpack, select, type = coroutine.status, unpack, select, type
local new_rec, park, wake = sched.new_rec, sched.park, sched.wake

local M = {}

-- errors ----------------------------------------------------------------------

local function default_onerror(th, _, tb)
  io.stderr:write(('socket2: %s ended with an error: %s\n'):format(tostring(th), tb))
end

-- socket.onerror([f]): f(thread, err, traceback) is called for every thread
-- that dies of an error (the thread ends; the loop goes on). f may raise:
-- whatever runs the loop (start, run, poll, a blocking call) then raises
-- that error (error(tb, 0) gives socket2's old behaviour). nil restores the
-- default (the traceback on stderr). Returns the handler it replaced.
local current_onerror = default_onerror
function M.onerror(f)
  if f ~= nil and type(f) ~= 'function' then errors.arg('onerror', 1, 'function or nil expected') end
  local old = current_onerror
  current_onerror = f or default_onerror
  sched.set_onerror(current_onerror)
  return old
end

-- join and kill ------------------------------------------------------------------

local function check_thread(t, fname)
  if not sched.is_thread(t) then errors.arg(fname, 1, 'socket2 thread expected (what socket.newthread returned)') end
end

local function ended(t) return co_status(t) == 'dead' or sched.outcome(t) ~= nil end

local function outcome(t)
  local o = sched.outcome(t)
  if not o then return true end -- returned nothing
  return unpack(o, 1, o.n)
end

local function unjoin(rec) sched.remove_joiner(rec.joined, rec) end

-- socket.join(t, [timeout]): waits for thread t to end; true, ... (what it
-- returned) or false, err (the error it died of, or 'killed'). A timeout
-- (or deadline) that passes first: nil, 'timeout', 'ETIMEDOUT'.
function M.join(t, timeout)
  check_thread(t, 'join')
  args.expires(timeout, 'join', 2)
  if t == sched.current() then errors.misuse('join', 'a thread cannot join itself') end
  if ended(t) then return outcome(t) end
  local rec = new_rec()
  rec.joined, rec.on_kill = t, unjoin
  sched.add_joiner(t, rec)
  local ok, err, code = park(rec, args.when(timeout, nil))
  if not ok then
    unjoin(rec)
    return nil, err, code
  end
  return outcome(t)
end

-- socket.kill(t): ends thread t where it is parked: it never runs again, its
-- waits are withdrawn (a pending proactor op is canceled, its buffer kept
-- until the kernel is done with it), joiners get false, 'killed'. true; or
-- false when t had already ended.
function M.kill(t)
  check_thread(t, 'kill')
  if ended(t) then return false end
  local st = co_status(t)
  if st == 'running' or st == 'normal' then
    errors.misuse('kill', 'cannot kill a running thread (it may end itself by returning or raising)')
  end
  local rec = sched.parked_on(t)
  if rec then sched.withdraw(rec) end
  sched.dequeue(t)
  sched.end_thread(t, 'killed')
  return true
end

-- socket.run(f, ...): runs f(...) in a new thread and drives the loop until
-- it ends; returns its results or raises its error (with its traceback).
-- Other threads' errors go to the error handler as usual.
local function pack(...) return {n = select('#', ...), ...} end
local function traceback(e) return debug.traceback(tostring(e), 2) end

function M.run(f, ...)
  if type(f) ~= 'function' then errors.arg('run', 1, 'function expected') end
  local res
  sched.newthread(function(...) res = pack(xpcall(f, traceback, ...)) end, ...)
  while not res do
    if sched.idle() then
      error('socket2.run: the thread waits for something that can never happen', 2)
    end
    local ok, err, code = sched.poll()
    if ok == nil then error('socket2.run: ' .. tostring(err) .. ' (' .. tostring(code) .. ')', 2) end
  end
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end

-- suspend and resume ---------------------------------------------------------------

-- Suspends the current thread until socket.resume(thread, ...) (whose
-- arguments it returns), or the timeout: nil, 'timeout', 'ETIMEDOUT'. Only
-- inside a socket2 thread.
local suspend_recs = setmetatable({}, {__mode = 'k'})
function M.suspend(timeout)
  local co = sched.current()
  if not co then errors.misuse('socket2.suspend', 'not inside a socket2 thread') end
  args.expires(timeout, 'suspend', 1)
  local rec = suspend_recs[co]
  if not rec then rec = new_rec(); suspend_recs[co] = rec end
  return park(rec, args.when(timeout, nil))
end

function M.resume(co, ...)
  local rec = suspend_recs[co]
  if not (rec and rec.thread) then
    errors.misuse('socket2.resume', 'thread is not suspended')
  end
  return wake(rec, ...)
end

-- sleep ----------------------------------------------------------------------------

local sleep_recs = setmetatable({}, {__mode = 'k'})
local main_sleep_rec = new_rec()

function M.sleep_until(t)
  if type(t) ~= 'number' or t ~= t then errors.arg('sleep_until', 1, 'number expected') end
  local co = sched.current()
  local rec = main_sleep_rec
  if co then
    rec = sleep_recs[co]
    if not rec then rec = new_rec(); sleep_recs[co] = rec end
  end
  park(rec, t)
  return true
end

function M.sleep(s)
  if type(s) ~= 'number' or s ~= s then errors.arg('sleep', 1, 'number expected') end
  return M.sleep_until(args.clock() + s)
end

return M
