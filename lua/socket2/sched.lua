-- socket2/sched.lua: the scheduler. Threads are coroutines; a thread that
-- must wait parks on a wait record ("rec": a table reused for every wait of
-- one socket direction, sleep, or lookup) until something wakes it: an event
-- for its slot, its deadline (a binary heap of recs), or close(). Woken
-- threads go to a run queue that the loop drains after each batch of events,
-- so nobody is ever resumed from inside someone else's call.
--
-- Outside a socket2 thread (the main chunk, a busted test), park() drives
-- the loop itself until the rec is woken: plain scripts get blocking I/O.
local ffi = require'ffi'
local shim = require'socket2.shim'
local errors = require'socket2.errors'
local args = require'socket2.args'
local sys = require'socket2.os'

local S2 = shim.lib
local clock = sys.clock
local co_create, co_resume, co_running, co_yield, co_status =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local floor, ceil = math.floor, math.ceil

local M = {}

local EVMAX = 512 -- events harvested per wait
local loop        -- s2_loop*, opened on first use
local loop_handle -- handle to share on open (socket.epoll_fd(fd) before first use)
local events = ffi.new('s2_event[?]', EVMAX)
-- The same array as 32-bit words (id, gen, result, flags per event): its
-- elements are plain numbers, so dispatch creates no cdata per event even
-- when it runs in the interpreter (a loop of one or two events is rarely
-- compiled: "leaving loop in root trace").
local ev_u32 = ffi.cast('uint32_t*', events)
local ev_i32 = ffi.cast('int32_t*', events)
assert(ffi.sizeof's2_event' == 16 and ffi.offsetof('s2_event', 'flags') == 12)

-- slots: id -> object with :_on_event(flags, result); gens[id] its generation
local slots, gens = {}, {}
local free_ids, nfree, top_id = {}, 0, 0
local nslots = 0

-- The socket2 thread being resumed (set around every resume of one), so
-- that park() tells a socket2 thread from a plain coroutine without a set
-- of threads (a new key per thread, a rehash every few dozen threads).
local running = nil
local nthreads = 0
local nwaiting = 0  -- recs with a thread parked on them
local polling = false
local parked = false -- set by park() just before the running thread yields
local stopping = false

-- run queue: parallel arrays, no allocation per wake. Their array parts
-- are made up front: rq_b and rq_c mostly receive nils, which never grow an
-- array part, so every store went to a new hash key (lj_tab_newkey, and a
-- rehash now and then) on each wake.
local tnew = require'table.new'
local RQ_PREALLOC = 2 * EVMAX
local function rq_new() return tnew(RQ_PREALLOC, 0) end
local rq_th, rq_a, rq_b, rq_c, rq_n = rq_new(), rq_new(), rq_new(), rq_new(), 0

-- timer heap of recs ordered by rec.expires; rec.hi is the index in heap
local heap, hn = {}, 0

local MAIN = {} -- rec.thread when the parked caller is not a socket2 thread

function M.loop()
  if not loop then
    local out = ffi.new's2_loop*[1]'
    local rc = S2.s2_open(loop_handle or -1, out)
    if rc < 0 then
      local _, msg, code = errors.s2(rc)
      error('socket2: cannot open the event loop: ' .. msg .. ' (' .. code .. ')', 0)
    end
    -- closed when this module is collected (at lua_close, or when a host
    -- drops and reloads it): else its epoll fd, eventfd and memory leak.
    -- What still holds a slot is closed first (sockets; threads are
    -- detached): a socket left open would otherwise stay registered in a
    -- kernel object shared with other OS threads after its loop is gone.
    loop = ffi.gc(out[0], function(l)
      for _, o in pairs(slots) do
        if o.close then pcall(o.close, o) end
      end
      S2.s2_close(l)
    end)
  end
  return loop
end

-- The kernel object of the loop (epoll fd, kqueue fd, IOCP handle), or
-- share one: set it before the loop is first used.
function M.handle(h, fname)
  if h ~= nil then
    if loop then
      errors.misuse(fname or 'socket2.handle', 'the loop is already open; share the handle before any other socket2 call')
    end
    loop_handle = h
  end
  return tonumber(S2.s2_handle(M.loop()))
end

-- slots ---------------------------------------------------------------------

function M.alloc_slot(obj)
  local id
  if nfree > 0 then
    id = free_ids[nfree]; nfree = nfree - 1
  else
    top_id = top_id + 1; id = top_id
    if id > S2.S2_MAX_ID then error('socket2: too many open sockets', 0) end
    gens[id] = 0
  end
  slots[id] = obj
  nslots = nslots + 1
  return id, gens[id]
end

function M.free_slot(id)
  slots[id] = nil
  gens[id] = (gens[id] + 1) % 0x100000000 -- stale events for this id now drop
  nfree = nfree + 1; free_ids[nfree] = id
  nslots = nslots - 1
end

-- timers --------------------------------------------------------------------

local function heap_up(i)
  local rec = heap[i]
  local t = rec.expires
  while i > 1 do
    local p = floor(i / 2)
    local prec = heap[p]
    if prec.expires <= t then break end
    heap[i] = prec; prec.hi = i
    i = p
  end
  heap[i] = rec; rec.hi = i
end

local function heap_down(i)
  local rec = heap[i]
  local t = rec.expires
  while true do
    local c = 2 * i
    if c > hn then break end
    if c < hn and heap[c + 1].expires < heap[c].expires then c = c + 1 end
    local crec = heap[c]
    if crec.expires >= t then break end
    heap[i] = crec; crec.hi = i
    i = c
  end
  heap[i] = rec; rec.hi = i
end

local function heap_push(rec)
  hn = hn + 1
  heap[hn] = rec
  heap_up(hn)
end

local function heap_remove(rec)
  local i = rec.hi
  rec.hi = nil
  local last = heap[hn]
  heap[hn] = nil
  hn = hn - 1
  if i <= hn then
    heap[i] = last; last.hi = i
    heap_up(i)
    heap_down(last.hi)
  end
end

-- parking and waking ----------------------------------------------------------

-- A new wait record, with sched's fields there from the start: a key
-- added later costs a table resize (the I/O modules make their sockets'
-- records with their own fields added: io.new_rec).
function M.new_rec()
  return {thread = false, busy = false, hi = false, expires = 0}
end

-- Wakes the thread parked on rec; park() then returns a, b, c. Returns
-- false when nobody was parked there.
local function wake(rec, a, b, c)
  local th = rec.thread
  if not th then return false end
  rec.thread = nil
  if rec.hi then heap_remove(rec) end
  nwaiting = nwaiting - 1
  if th == MAIN then
    rec.done, rec.r1, rec.r2, rec.r3 = true, a, b, c
  else
    rq_n = rq_n + 1
    rq_th[rq_n], rq_a[rq_n], rq_b[rq_n], rq_c[rq_n] = th, a, b, c
  end
  return true
end
M.wake = wake

local NOT_A_THREAD = 'socket2: blocking I/O inside the loop from a coroutine that is not a socket2 thread'
  .. ' (use socket.newthread)'

-- Could the caller park now? Not from a coroutine that is no socket2 thread
-- while the loop runs: park() raises an error there.
function M.can_park()
  local co = co_running()
  return not polling or (co ~= nil and co == running)
end

-- Raises park()'s error when the caller could not park (for a caller that
-- must know before it starts something it would have to wait for).
function M.check_park()
  if not M.can_park() then error(NOT_A_THREAD, 0) end
end

function M.current()
  local co = co_running()
  return co ~= nil and co == running and co or nil
end

-- Parks the caller on rec until wake(rec, ...) or the deadline (an absolute
-- clock() time, or nil for none); a deadline returns nil,'timeout',code.
function M.park(rec, expires)
  -- public calls checked expires (args.expires); this guards the heap that
  -- every thread shares against a bad value from inside socket2
  if expires and (type(expires) ~= 'number' or expires ~= expires) then
    errors.misuse('socket2', 'a deadline must be a socket.clock() time, got ' .. tostring(expires))
  end
  if rec.thread then
    errors.misuse('socket2', 'two waiters on one wait record')
  end
  local co = co_running()
  local th = co ~= nil and co == running and co or MAIN
  rec.thread = th
  nwaiting = nwaiting + 1
  if expires then
    rec.expires = expires
    heap_push(rec)
  end
  if th ~= MAIN then
    parked = true
    -- not a tail call: LuaJIT stitches the trace around the yield, so the
    -- code after the wake runs compiled instead of in the interpreter
    local a, b, c = co_yield()
    return a, b, c
  end
  -- blocking mode: run the loop until our rec is woken
  if polling then
    wake(rec)
    rec.busy = false
    error(NOT_A_THREAD, 0)
  end
  rec.done = false
  while not rec.done do
    local ok, r1, r2, r3 = pcall(M.poll)
    if not ok then -- a thread's error: unpark (and free the socket direction), re-raise
      wake(rec); rec.busy = false
      error(r1, 0)
    end
    if r1 == nil and r2 then wake(rec); return nil, r2, r3 end
  end
  local a, b, c = rec.r1, rec.r2, rec.r3
  rec.r1, rec.r2, rec.r3 = nil, nil, nil
  return a, b, c
end

-- threads ---------------------------------------------------------------------

-- A resumed thread either parks (park() sets parked before it yields) or
-- it has ended (returned, raised an error, or yielded by itself): only
-- then does the resumer look at it. No pcall and no coroutine.status per
-- resume.
local function ended(co, ok, err)
  if co_status(co) == 'dead' then
    nthreads = nthreads - 1
    if not ok then return debug.traceback(co, tostring(err)) end
  end
end

-- Creates a thread running f(...) and runs it at once, up to its first wait.
-- An error in it is raised, with its traceback, from whatever resumed it.
-- Up to 3 arguments are passed without a vararg call (NYI for LuaJIT in a
-- trace that starts inside this function, as one does after the stitched
-- coroutine.create).
function M.newthread(f, ...)
  if type(f) ~= 'function' then errors.arg('newthread', 1, 'function expected, got ' .. type(f)) end
  local n, a, b, c = select('#', ...), ...
  local co = co_create(f)
  nthreads = nthreads + 1
  local prev = running
  running, parked = co, false
  local ok, err
  if n == 0 then ok, err = co_resume(co)
  elseif n == 1 then ok, err = co_resume(co, a)
  elseif n == 2 then ok, err = co_resume(co, a, b)
  elseif n == 3 then ok, err = co_resume(co, a, b, c)
  else ok, err = co_resume(co, ...) end
  local p = parked
  running, parked = prev, false -- the caller (maybe a thread) runs on
  if not p then
    err = ended(co, ok, err)
    if err then error(err, 0) end
  end
  return co
end

-- Resumes the queued threads; returns the error of one that raised one
-- (what is still queued stays queued).
local function run_queue()
  local n = rq_n
  local i = 1
  while i <= n do
    local th, a, b, c = rq_th[i], rq_a[i], rq_b[i], rq_c[i]
    rq_th[i], rq_a[i], rq_b[i], rq_c[i] = nil, nil, nil, nil
    i = i + 1
    running, parked = th, false
    local ok, err = co_resume(th, a, b, c)
    running = nil
    if not parked then
      err = ended(th, ok, err)
      if err then
        -- keep what is still queued, then report the error
        local j = 0
        for k = i, rq_n do
          j = j + 1
          rq_th[j], rq_a[j], rq_b[j], rq_c[j] = rq_th[k], rq_a[k], rq_b[k], rq_c[k]
          rq_th[k], rq_a[k], rq_b[k], rq_c[k] = nil, nil, nil, nil
        end
        rq_n = j
        return err
      end
    end
  end
  parked = false
  -- threads queued while we ran stay for the next pass
  local j = 0
  for k = n + 1, rq_n do
    j = j + 1
    rq_th[j], rq_a[j], rq_b[j], rq_c[j] = rq_th[k], rq_a[k], rq_b[k], rq_c[k]
    rq_th[k], rq_a[k], rq_b[k], rq_c[k] = nil, nil, nil, nil
  end
  rq_n = j
end

local function expire_timers(now)
  local fired = false
  while hn > 0 and heap[1].expires <= now do
    wake(heap[1], errors.timeout())
    fired = true
  end
  return fired
end

-- One turn of the loop: wait up to timeout seconds (nil: until something
-- happens) for events, dispatch them, fire due timers, run woken threads.
-- Returns true when anything happened, false,'timeout' when nothing did.
function M.poll(timeout)
  if polling then error('socket2.poll: called from inside the loop', 2) end
  if type(timeout) ~= 'boolean' or timeout then args.seconds(timeout, 'poll', 1) end
  local l = M.loop()
  local ms = -1
  if rq_n > 0 then
    ms = 0
  else
    local now
    if hn > 0 then
      now = clock()
      local d = heap[1].expires - now
      ms = d <= 0 and 0 or ceil(d * 1000)
    end
    if timeout then
      if timeout <= 0 then ms = 0
      else
        local tms = ceil(timeout * 1000)
        if ms < 0 or tms < ms then ms = tms end
      end
    end
    if ms > 0x7fffffff then ms = 0x7fffffff end
  end
  polling = true
  local n = S2.s2_wait(l, events, EVMAX, ms)
  if n < 0 then
    polling = false
    return errors.s2(n)
  end
  -- Dispatch. Every slot holds an object with a method
  --   o:_on_event(flags, result)
  -- that takes the events of its slot (s2_event.flags, .result): sockets
  -- (their metatable's _on_event is io_reactor.on_event or
  -- io_proactor.on_event, set in socket.lua), name lookups (addr.lua) and
  -- OS threads (thread.lua). It may wake threads; it never resumes one.
  -- An event for a slot freed or reused since (another generation) drops.
  for i = 0, 4 * (n - 1), 4 do
    local id = ev_u32[i]
    local o = slots[id]
    if o and gens[id] == ev_u32[i + 1] then
      o:_on_event(ev_u32[i + 3], ev_i32[i + 2])
    end
  end
  local fired = hn > 0 and expire_timers(clock())
  local ran = rq_n > 0
  local err = ran and run_queue()
  polling = false
  if err then error(err, 0) end
  if n > 0 or fired or ran then return true end
  return false, 'timeout'
end

-- Runs the loop until stop() is called, nothing is left to wait for, or
-- timeout seconds have passed.
function M.start(timeout)
  if type(timeout) ~= 'boolean' or timeout then args.seconds(timeout, 'start', 1) end
  local expires = timeout and clock() + timeout
  stopping = false
  while not stopping and (nwaiting > 0 or rq_n > 0) do
    local t
    if expires then
      t = expires - clock()
      if t <= 0 then break end
    end
    local ok, err, code = M.poll(t)
    if ok == nil then return nil, err, code end
  end
  stopping = false
  return true
end

function M.stop() stopping = true end

-- Runs f(...) in a new thread and drives the loop until it ends; returns
-- its results or raises its error.
local function pack(...) return {n = select('#', ...), ...} end

function M.run(f, ...)
  if type(f) ~= 'function' then errors.arg('run', 1, 'function expected') end
  local done, res = false, nil
  M.newthread(function(...) res = pack(f(...)); done = true end, ...)
  while not done do
    if nwaiting == 0 and rq_n == 0 then
      error('socket2.run: the thread waits for something that can never happen', 2)
    end
    local ok, err, code = M.poll()
    if ok == nil then error('socket2.run: ' .. tostring(err) .. ' (' .. tostring(code) .. ')', 2) end
  end
  return unpack(res, 1, res.n)
end

-- Suspends the current thread until socket.resume(thread, ...) (whose
-- arguments it returns). Only inside a socket2 thread.
local suspend_recs = setmetatable({}, {__mode = 'k'})
function M.suspend()
  local co = M.current()
  if not co then errors.misuse('socket2.suspend', 'not inside a socket2 thread') end
  local rec = suspend_recs[co]
  if not rec then rec = M.new_rec(); suspend_recs[co] = rec end
  return M.park(rec)
end

function M.resume(co, ...)
  local rec = suspend_recs[co]
  if not (rec and rec.thread) then
    errors.misuse('socket2.resume', 'thread is not suspended')
  end
  return wake(rec, ...)
end

-- sleep ---------------------------------------------------------------------

local sleep_recs = setmetatable({}, {__mode = 'k'})
local main_sleep_rec = M.new_rec()

function M.sleep_until(t)
  if type(t) ~= 'number' or t ~= t then errors.arg('sleep_until', 1, 'number expected') end
  local co = M.current()
  local rec = main_sleep_rec
  if co then
    rec = sleep_recs[co]
    if not rec then rec = M.new_rec(); sleep_recs[co] = rec end
  end
  M.park(rec, t)
  return true
end

function M.sleep(s)
  if type(s) ~= 'number' or s ~= s then errors.arg('sleep', 1, 'number expected') end
  return M.sleep_until(clock() + s)
end

M.clock = clock

-- The objects that hold slots (sockets, lookups): for leak checks.
function M.objects()
  local t = {}
  for _, o in pairs(slots) do t[#t + 1] = o end
  return t
end

-- Forgets parked threads and timers (after a test leaked them).
function M.reset_for_tests()
  for i = hn, 1, -1 do local rec = heap[i]; rec.hi = nil; rec.thread = nil; heap[i] = nil end
  hn, nwaiting, rq_n = 0, 0, 0
  rq_th, rq_a, rq_b, rq_c = rq_new(), rq_new(), rq_new(), rq_new()
end

-- What is alive: for leak checks in tests and for debugging.
function M.stats()
  return {slots = nslots, threads = nthreads, waiting = nwaiting, timers = hn, queued = rq_n}
end

return M
