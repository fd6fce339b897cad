-- socket2/select.lua: socket.select(readers, writers, [timeout]), waiting
-- for any of several sockets (or socket.wrap(fd, 'fd') descriptors) to be
-- readable or writable, LuaSocket's contract on socket2's scheduler.
--
-- What is ready now is asked with one poll(2) (WSAPoll) over all of them.
-- When nothing is, every socket direction is armed to wake one wait record
-- (the I/O module's arm: on a reactor its edge, on a proactor a POLL op),
-- the caller parks on it, and the sockets are asked again when it wakes.
-- Inside a thread only that thread waits; outside one the loop runs meanwhile.
local bit = require'bit'
local sys = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'
local args = require'socket2.args'

local io = require(bit.band(shim.caps, shim.lib.S2_CAP_COMPLETION) ~= 0
  and 'socket2.io_proactor' or 'socket2.io_reactor')
local band = bit.band

local M = {}

-- The sockets of one list, checked: an array of socket objects.
local function collect(list, dir, argn, into)
  if list == nil then return end
  if type(list) ~= 'table' then errors.arg('select', argn, 'array of sockets or nil expected') end
  for i = 1, #list do
    local s = list[i]
    if type(s) ~= 'table' or s._rrec == nil then
      errors.arg('select', argn, ('element %d is not a socket'):format(i))
    end
    args.open(s, 'select')
    local rec = dir == 'r' and s._rrec or s._wrec
    args.busy(rec, 'select', dir == 'r' and 'reading' or 'writing')
    into[#into + 1] = {s = s, rec = rec, dir = dir}
  end
end

-- The ready ones, as LuaSocket returns them: r[i] = s and r[s] = i.
local function ready(set)
  local n = #set
  if n == 0 then return {}, {} end -- (WSAPoll refuses an empty set)
  local p = sys.pollfds(n)
  for i = 1, n do
    local e = set[i]
    p[i - 1].fd = e.s.fd
    p[i - 1].events = e.dir == 'r' and sys.POLL_R or sys.POLL_W
  end
  if sys.poll_now(p, n) < 0 then return errors.os(sys.errno()) end
  local r, w = {}, {}
  for i = 1, n do
    local e = set[i]
    local pe = p[i - 1]
    if band(pe.revents, pe.events + sys.POLL_FAIL) ~= 0 then
      -- (a reactor's next call then tries its syscall even where it had seen EAGAIN)
      if e.dir == 'r' then e.s._rready = true else e.s._wready = true end
      local t = e.dir == 'r' and r or w
      t[#t + 1] = e.s
      t[e.s] = #t
    end
  end
  return r, w
end

local function disarm(set)
  for i = 1, #set do
    local e = set[i]
    if e.armed then
      e.armed = false
      io.disarm(e.s, e.rec)
      sched.release(e.rec, e.tok)
    end
  end
end

-- What cannot be armed (IOCP has no readiness op for a listener) is asked
-- again this often.
local POLL_EVERY = 0.01

-- socket.select(readers, writers, [timeout]) -> readable, writable (each
-- an array that also maps each socket to its index), or nil, err, code:
-- 'timeout' when nothing got ready in time, 'closed' or 'canceled' when a
-- socket was closed or canceled meanwhile. timeout: seconds or a deadline.
function M.select(readers, writers, timeout)
  local set = {}
  collect(readers, 'r', 1, set)
  collect(writers, 'w', 2, set)
  args.expires(timeout, 'select', 3)
  local dl = args.when(timeout, nil)
  if #set == 0 and not dl then errors.misuse('select', 'no socket to wait for and no timeout') end
  while true do
    local r, w, code = ready(set)
    if not r then return nil, w, code end
    if #r + #w > 0 then return r, w end
    local now = args.clock()
    if dl and dl <= now then return errors.timeout() end
    local sel = sched.new_rec()
    sel.on_kill = function() disarm(set) end
    local until_t = dl
    for i = 1, #set do
      local e = set[i]
      e.tok = sched.claim(e.rec)
      local ok, err, ecode = io.arm(e.s, e.rec, sel, dl)
      if ok then
        e.armed = true
      else
        sched.release(e.rec, e.tok)
        if ecode ~= 'EOPNOTSUPP' then disarm(set); return nil, err, ecode end
        if not until_t or until_t > now + POLL_EVERY then until_t = now + POLL_EVERY end
      end
    end
    local ok, err, ecode = sched.park(sel, until_t)
    disarm(set)
    if not ok and ecode ~= 'ETIMEDOUT' then return nil, err, ecode end
  end
end

return M
