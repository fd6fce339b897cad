-- socket2/sched.lua: the scheduler. Threads are coroutines; a thread that
-- must wait parks on a wait record ("rec": a table reused for every wait of
-- one socket direction, sleep, or lookup) until something wakes it: an event
-- for its slot, its deadline (a binary heap of recs), or close(). Woken
-- threads go to a run queue that the loop drains after each batch of events,
-- so nobody is ever resumed from inside someone else's call.
--
-- Outside a socket2 thread (the main chunk, a busted test), park() drives
-- the loop itself until the rec is woken: plain scripts get blocking I/O.
--
-- An error in a thread ends that thread only: it is reported to the error
-- handler (threads.lua: socket.onerror) and the loop goes on. What a thread
-- returned, or the error it died of, is kept for socket.join (weakly).
-- Objects in slots (sockets) are held weakly: one that nothing refers to is
-- collected, and its descriptor closed (M.collect, M.reap). A thread parked
-- on a wait record is held (parked_on), and so is what its stack refers to.
local ffi = require'ffi'
local shim = require'socket2.shim'
local errors = require'socket2.errors'
local args = require'socket2.args'

local S2 = shim.lib
local clock = args.clock
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

-- slots: id -> object with :_on_event(flags, result), held weakly (a
-- socket nobody refers to is collected: see M.collect); gens[id] its
-- generation
local slots, gens = setmetatable({}, {__mode = 'v'}), {}
local used = {}          -- id -> true while taken
local dead_flag = false  -- an object in a slot was collected (M.collected)
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
M.MAIN = MAIN

-- thread -> the rec it is parked on. Strong: it keeps a parked thread, and
-- so everything its stack refers to (the socket it waits on), reachable.
local parked_on = {}

-- Threads: every socket2 thread (weak set), and the outcome of the ended
-- ones that returned values or raised an error, for join: {n = n, ok, ...}.
-- (An ended thread with no outcome returned nothing.)
local known = setmetatable({}, {__mode = 'k'})
local outcomes = setmetatable({}, {__mode = 'k'})
local joiners = {} -- thread -> list of recs of the threads joining it

-- Closes the loop when this module is collected (at lua_close, or when a
-- host drops and reloads it): else its epoll fd, eventfd and memory leak.
-- What still holds a slot is closed first (sockets; threads are detached):
-- a socket left open would otherwise stay registered in a kernel object
-- shared with other OS threads after its loop is gone.
local function close_loop(l)
  for _, o in pairs(slots) do
    if o.close then pcall(o.close, o) end
  end
  S2.s2_close(l)
end

local function open_loop()
  local out = ffi.new's2_loop*[1]'
  local rc = S2.s2_open(loop_handle or -1, out)
  if rc < 0 then
    local _, msg, code = errors.s2(rc)
    error('socket2: cannot open the event loop: ' .. msg .. ' (' .. code .. ')', 0)
  end
  loop = ffi.gc(out[0], close_loop)
end

-- The loop, opened on first use. (No closure is made in here: a function
-- that makes one ends in UCLO, which LuaJIT cannot compile, and this one is
-- on every proactor op's path.)
function M.loop()
  if not loop then open_loop() end
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

local reap
function M.alloc_slot(obj)
  if dead_flag then reap() end
  local id
  if nfree > 0 then
    id = free_ids[nfree]; nfree = nfree - 1
  else
    top_id = top_id + 1; id = top_id
    if id > S2.S2_MAX_ID then error('socket2: too many open sockets', 0) end
    gens[id] = 0
  end
  slots[id] = obj
  used[id] = true
  nslots = nslots + 1
  return id, gens[id]
end

function M.free_slot(id)
  slots[id] = nil
  used[id] = false
  gens[id] = (gens[id] + 1) % 0x100000000 -- stale events for this id now drop
  nfree = nfree + 1; free_ids[nfree] = id
  nslots = nslots - 1
end

-- Collected objects. An object in a slot that nothing else refers to is
-- collected: its finalizer (socket.lua) closes its descriptor at once and
-- calls M.collected(), which only raises a flag: a finalizer runs at
-- whatever point the GC reached, possibly inside alloc_slot or dispatch,
-- so it must not touch the slot tables. M.reap, at the start of every loop
-- turn and of every alloc_slot, then frees every slot still taken whose
-- object is gone, and calls on_dead(id) for each (socket.lua's cleanup).
local on_dead = function() end
function M.collected() dead_flag = true end
function M.set_on_dead(f) on_dead = f end

function reap()
  if not dead_flag then return end
  dead_flag = false -- (a finalizer during the scan raises it again)
  for id = 1, top_id do
    if used[id] and slots[id] == nil then
      M.free_slot(id)
      on_dead(id)
    end
  end
end
M.reap = reap

-- Calls due at the start of the next loop turn, before it waits: fn(a)
-- (a stream's background flush starts there: stream.lua).
local soon_fn, soon_a, nsoon = {}, {}, 0
function M.soon(fn, a)
  nsoon = nsoon + 1
  soon_fn[nsoon], soon_a[nsoon] = fn, a
end

local function run_soon()
  local i = 1
  while i <= nsoon do -- (fn may add more)
    local fn, a = soon_fn[i], soon_a[i]
    soon_fn[i], soon_a[i] = nil, nil
    i = i + 1
    fn(a)
  end
  nsoon = 0
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
  return {thread = false, busy = false, hi = false, expires = 0, on_kill = false, tok = 0, sel = false}
end

-- A call takes a socket direction's rec for its duration (rec.busy: another
-- thread calling meanwhile is a misuse error, args.busy). cancel(), close()
-- and kill release it early, so that the socket is usable again at once;
-- the token keeps the released call's late end from releasing the next
-- call's hold: claim -> tok, then release(rec, tok).
function M.claim(rec)
  local tok = rec.tok + 1
  rec.tok, rec.busy = tok, true
  return tok
end
function M.release(rec, tok)
  if rec.tok == tok then rec.busy = false end
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
    parked_on[th] = nil
    rq_n = rq_n + 1
    rq_th[rq_n], rq_a[rq_n], rq_b[rq_n], rq_c[rq_n] = th, a, b, c
  end
  return true
end
M.wake = wake

-- Fairness. An I/O call that can complete at once does not yield, so a
-- thread whose calls always find work (an accept loop under a flood of
-- connections, a reader of data that keeps coming) would keep the loop
-- from polling, and every other socket's events would wait behind it
-- (bench churn on epoll: thousands of connections left in CLOSE-WAIT, at
-- times up to EMFILE). So the loop polls at least once every BUDGET such
-- calls: the call that finds the budget spent first waits, parked by its
-- I/O module like any wait, until a timer due now fires after the next
-- poll (tokio's cooperative budget, counted per loop turn here). Outside
-- a socket2 thread nothing can wait: the call goes on.
-- spend() -> must the caller let the loop turn first?
local BUDGET = 256
local budget = BUDGET
function M.spend()
  budget = budget - 1
  if budget > 0 then return false end
  local co = co_running()
  return co ~= nil and co == running
end

-- Takes the thread parked on rec off it without resuming it (kill); the
-- rec's owner may have more to undo: rec.on_kill(rec). Returns the thread.
function M.withdraw(rec)
  local th = rec.thread
  if not th then return nil end
  rec.thread = nil
  if rec.hi then heap_remove(rec) end
  nwaiting = nwaiting - 1
  parked_on[th] = nil
  rec.busy = false
  if rec.on_kill then rec.on_kill(rec) end
  return th
end

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
    parked_on[th] = rec
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

-- The error handler: f(thread, err, traceback) for a thread that died of
-- an error (threads.lua sets it: socket.onerror). Raising from it stops
-- whatever runs the loop with that error.
local onerror = function(th, _, tb)
  io.stderr:write(('socket2: %s ended with an error: %s\n'):format(tostring(th), tb))
end
function M.set_onerror(f) local old = onerror; onerror = f; return old end

-- Wakes the threads joining th (they read its outcome themselves).
local function notify_joiners(th)
  local list = joiners[th]
  if not list then return end
  joiners[th] = nil
  for i = 1, #list do wake(list[i], true) end
end

-- A thread ended: returned (what it returned, if anything, is in outcomes
-- already: finish) or raised err. Returns the handler's own error when it
-- raised one (the caller propagates it).
local function ended(co, ok, err)
  nthreads = nthreads - 1
  if not ok then outcomes[co] = {n = 2, false, err} end
  if joiners[co] then notify_joiners(co) end
  if not ok then
    local hok, herr = pcall(onerror, co, err, debug.traceback(co, tostring(err)))
    if not hok then return herr end
  end
end

-- A resumed thread either parks (park() sets parked before it yields) or
-- it has ended (returned, raised an error, or yielded by itself: it is
-- then never resumed again): only then does the resumer look at it. No
-- pcall and no coroutine.status per resume.
local function after_resume(co, ok, err)
  if co_status(co) == 'dead' then return ended(co, ok, err) end
end

-- The body of every thread: f's results, when there are any, are kept for
-- join. Up to 3 arguments are passed without a vararg call (NYI for LuaJIT
-- in a trace that starts inside newthread, as one does after the stitched
-- coroutine.create): one body per count.
local function finish(...)
  if select('#', ...) > 0 then outcomes[running] = {n = select('#', ...) + 1, true, ...} end
end
local bodies = {
  [0] = function(f) return finish(f()) end,
  function(f, a) return finish(f(a)) end,
  function(f, a, b) return finish(f(a, b)) end,
  function(f, a, b, c) return finish(f(a, b, c)) end,
}
local function body_n(f, ...) return finish(f(...)) end

-- Creates a thread running f(...) and runs it at once, up to its first
-- wait. An error in it ends that thread and goes to the error handler.
function M.newthread(f, ...)
  if type(f) ~= 'function' then errors.arg('newthread', 1, 'function expected, got ' .. type(f)) end
  local n, a, b, c = select('#', ...), ...
  local co = co_create(bodies[n] or body_n)
  known[co] = true
  nthreads = nthreads + 1
  local prev = running
  running, parked = co, false
  local ok, err
  if n == 0 then ok, err = co_resume(co, f)
  elseif n == 1 then ok, err = co_resume(co, f, a)
  elseif n == 2 then ok, err = co_resume(co, f, a, b)
  elseif n == 3 then ok, err = co_resume(co, f, a, b, c)
  else ok, err = co_resume(co, f, ...) end
  local p = parked
  running, parked = prev, false -- the caller (maybe a thread) runs on
  if not p then
    err = after_resume(co, ok, err)
    if err then error(err, 0) end
  end
  return co
end

function M.is_thread(co) return known[co] == true end
function M.outcome(co) return outcomes[co] end
function M.parked_on(co) return parked_on[co] end

-- Marks th ended without resuming it (kill): its joiners get err.
function M.end_thread(th, err)
  outcomes[th] = {n = 2, false, err}
  nthreads = nthreads - 1
  if joiners[th] then notify_joiners(th) end
end

-- rec joins th: woken (with true) when th ends.
function M.add_joiner(th, rec)
  local list = joiners[th]
  if not list then list = {}; joiners[th] = list end
  list[#list + 1] = rec
end

function M.remove_joiner(th, rec)
  local list = joiners[th]
  if not list then return end
  for i = #list, 1, -1 do
    if list[i] == rec then table.remove(list, i) end
  end
  if #list == 0 then joiners[th] = nil end
end

-- Takes th out of the run queue (it was woken but must not run: kill).
function M.dequeue(th)
  for i = 1, rq_n do
    if rq_th[i] == th then rq_th[i], rq_a[i], rq_b[i], rq_c[i] = false, nil, nil, nil end
  end
end

-- Resumes the queued threads; returns an error the error handler raised
-- (what is still queued stays queued).
local function run_queue()
  local n = rq_n
  local i = 1
  while i <= n do
    local th, a, b, c = rq_th[i], rq_a[i], rq_b[i], rq_c[i]
    rq_th[i], rq_a[i], rq_b[i], rq_c[i] = nil, nil, nil, nil
    i = i + 1
    if th then -- (false: taken out by kill)
      running, parked = th, false
      local ok, err = co_resume(th, a, b, c)
      running = nil
      if not parked then
        err = after_resume(th, ok, err)
        if err then
          -- keep what is still queued, then report the error
          local j = 0
          for k = i, rq_n do
            j = j + 1
            rq_th[j], rq_a[j], rq_b[j], rq_c[j] = rq_th[k], rq_a[k], rq_b[k], rq_c[k]
            rq_th[k], rq_a[k], rq_b[k], rq_c[k] = nil, nil, nil, nil
          end
          rq_n = j
          parked = false
          return err
        end
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
  if dead_flag then reap() end
  if nsoon > 0 then run_soon() end
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
  budget = BUDGET
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
  while not stopping and (nwaiting > 0 or rq_n > 0 or nsoon > 0) do
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

-- The objects that hold slots (sockets, lookups): for leak checks.
function M.objects()
  local t = {}
  for _, o in pairs(slots) do t[#t + 1] = o end
  return t
end

-- Forgets parked threads and timers (after a test leaked them).
function M.reset_for_tests()
  for i = hn, 1, -1 do local rec = heap[i]; rec.hi = nil; rec.thread = nil; heap[i] = nil end
  for th, rec in pairs(parked_on) do rec.thread = nil; parked_on[th] = nil end
  hn, nwaiting, rq_n = 0, 0, 0
  rq_th, rq_a, rq_b, rq_c = rq_new(), rq_new(), rq_new(), rq_new()
end

-- Are threads parked or queued? (socket.run: is there anything left to run)
function M.idle() return nwaiting == 0 and rq_n == 0 and nsoon == 0 end

-- What is alive: for leak checks in tests and for debugging.
function M.stats()
  return {slots = nslots, threads = nthreads, waiting = nwaiting, timers = hn, queued = rq_n}
end

return M
