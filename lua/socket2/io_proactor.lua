-- socket2/io_proactor.lua: socket I/O on a completion backend (io_uring,
-- IOCP). Same interface as io_reactor.lua (described there).
--
-- A call submits one op with the caller's own buffer and parks until the
-- op's S2_DONE event: the kernel does the I/O and the event carries the
-- result. At most one op is pending per socket direction (socket.lua makes a
-- second reader or writer a misuse error), so the socket's wait record of
-- that direction is also the op's record: rec.pending, then rec.res.
--
-- The rule that makes this safe: a call never returns while its op is
-- pending, so the kernel never writes a buffer after the call returned.
--   * deadline: the op is cancelled (S2_OP_CANCEL) and the call keeps waiting
--     for the op's own end. -S2_ECANCELED then means 'timeout'; a result
--     that arrived first wins (a timeout racing a completed receive returns
--     the data, a completed accept its connection).
--   * s:cancel(): the same, ending with nil, 'canceled', 'ECANCELED'.
--   * close()/release(): the pending ops are cancelled; each parked thread
--     returns nil, 'closed' when its op's end arrives (a connection accepted
--     meanwhile is closed). The slot stays allocated until then, so those
--     ends still find the socket.
-- The buffer is also anchored in the record until the end, so it outlives the
-- op even if its thread never runs again (a misuse error raised meanwhile).
--
-- Plain non-blocking syscalls are used where the OS has MSG_DONTWAIT: for a
-- socket in non-blocking mode (s:setblocking(false)). Trying them first on
-- every call did not pay (bench/proactor_try.lua measures it).
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'
local args = require'socket2.args'

local C, S2 = sys.C, shim.lib
local band, bor, bnot = bit.band, bit.bor, bit.bnot
local park, wake, claim, release = sched.park, sched.wake, sched.claim, sched.release
local clock, deadline = args.clock, args.deadline
local sizeof = ffi.sizeof
local pcall, error = pcall, error
local errno, EAGAIN, EWOULDBLOCK, EINTR, EINPROGRESS = sys.errno, sys.EAGAIN, sys.EWOULDBLOCK, sys.EINTR,
  sys.EINPROGRESS

local READ, WRITE, DONE, TRUNC = S2.S2_READ, S2.S2_WRITE, S2.S2_DONE, S2.S2_TRUNC
local RES_CANCELED, RES_INTR = -S2.S2_ECANCELED, -S2.S2_EINTR
local OP_RECV, OP_SEND, OP_RECVFROM, OP_SENDTO = S2.S2_OP_RECV, S2.S2_OP_SEND, S2.S2_OP_RECVFROM, S2.S2_OP_SENDTO
local OP_ACCEPT, OP_CONNECT, OP_POLL, OP_CANCEL = S2.S2_OP_ACCEPT, S2.S2_OP_CONNECT, S2.S2_OP_POLL, S2.S2_OP_CANCEL
-- an op always waits: 'dontwait' passed to the kernel would end it with EAGAIN
local DONTWAIT = sys.MSG.dontwait
local NOT_DONTWAIT = bnot(DONTWAIT or 0)

-- s2_op as Lua fills it: the same layout, with the pointer fields typed as
-- pointers, so a buffer (cdata or string) is stored without a cast or a box.
ffi.cdef[[
typedef struct s2_op_lua {
    uint32_t op, flags, id, gen;
    int64_t  fd;
    const void *buf;
    const void *addr;
    uint32_t *addrlenp;
    uint32_t len, addrlen;
    int32_t  result;
    uint32_t aux;
} s2_op_lua;
]]
assert(sizeof's2_op_lua' == sizeof's2_op' and ffi.offsetof('s2_op_lua', 'len') == ffi.offsetof('s2_op', 'len'),
  'socket2: the proactor path needs 64-bit pointers')
local opbuf = ffi.new's2_op_lua[1]'
local op, opp = opbuf[0], ffi.cast('s2_op*', opbuf) -- neither keeps opbuf alive: M does
local alen_ct = ffi.typeof'uint32_t[1]'
local sa_ptr = ffi.typeof'struct sockaddr*'
local lenp = ffi.new'socklen_t[1]'
local optval = ffi.new'int[1]'
local SOL_SOCKET, SO_ERROR = sys.SOCKOPT.error[1], sys.SOCKOPT.error[2]

local M = {_opbuf = opbuf}

-- A socket's wait record, which is also its op record (see sched.new_rec).
-- owner: the socket; drain: the rec of a call waiting for the previous
-- op of this direction to end (see drain); orphan: the op's thread is gone
-- (killed, or it raised while the op was pending).
local on_kill
function M.new_rec()
  return {thread = false, busy = false, hi = false, expires = 0, on_kill = on_kill, tok = 0, sel = false,
          pending = false, res = false, cut = false, canceled = false, anchor = false,
          owner = false, drain = false, orphan = false}
end

function M.init(s)
  s._npending = 0
  s._rrec.owner, s._wrec.owner = s, s
end

-- Sockets whose pending ops no thread waits for any more: held until the
-- kernel is done with their buffers (which their recs anchor).
local draining = {} -- luacheck: ignore 241 (only written: it holds what it refers to)
local function orphan(rec)
  rec.orphan = true
  draining[rec.owner] = true
end

-- ops -------------------------------------------------------------------------

-- Submits one op for s; 0 or -S2_E*. Raises park()'s misuse error first
-- when the caller could not wait for the op.
local check_park = sched.check_park
local function submit(s, rec, code, fl, buf, len, addr, addrlen, alenp)
  check_park()
  op.op, op.flags, op.id, op.gen, op.fd = code, fl, s.id, s.gen, s.fd
  op.buf, op.addr, op.addrlenp, op.len, op.addrlen, op.aux = buf, addr, alenp, len, addrlen, 0
  S2.s2_submit(sched.loop(), opp, 1)
  local rc = op.result
  if rc == 0 then
    rec.pending = true
    rec.anchor = buf or addr
    s._npending = s._npending + 1
  end
  return rc
end

-- Cancels the pending ops of s in directions dirs; 0 or -S2_E*.
local function cancel(s, dirs)
  op.op, op.flags, op.id, op.gen, op.fd = OP_CANCEL, dirs, s.id, s.gen, s.fd
  op.buf, op.addr, op.addrlenp, op.len, op.addrlen, op.aux = nil, nil, nil, 0, 0, 0
  S2.s2_submit(sched.loop(), opp, 1)
  return op.result
end

function M.on_event(s, flags, result)
  if band(flags, DONE) == 0 then return end
  local rec = band(flags, READ) ~= 0 and s._rrec or s._wrec
  if not rec.pending then return end
  rec.pending, rec.res, rec.anchor, rec.cut = false, result, nil, band(flags, TRUNC) ~= 0
  local n = s._npending - 1
  s._npending = n
  if rec.orphan then
    rec.orphan = false
    if n == 0 then draining[s] = nil end
  end
  if s._closed and n == 0 then sched.free_slot(s.id) end
  -- the op's own thread first: it reads rec.res before the next call of
  -- this direction (queued after it) submits another op
  if rec.thread then wake(rec, true) end
  local w = rec.drain
  if w and w.thread then wake(w, true) end
  if rec.sel then wake(rec.sel, true) end -- socket.select waits on it
end

local function pending_dirs(s)
  return (s._rrec.pending and READ or 0) + (s._wrec.pending and WRITE or 0)
end

-- Wakes with err whoever waits on rec without an op of its own: a call
-- waiting for the previous op to end, socket.select.
local function wake_others(rec, ...)
  local n = 0
  local w = rec.drain
  if w and w.thread and wake(w, ...) then n = n + 1 end
  if rec.sel and wake(rec.sel, ...) then n = n + 1 end
  return n
end

function M.close(s)
  for _, rec in ipairs{s._rrec, s._wrec} do
    if rec.pending and not rec.thread then orphan(rec) end
    wake_others(rec, errors.closed())
  end
  if s._npending > 0 then
    cancel(s, pending_dirs(s)) -- the parked threads return when their ops end
  else
    sched.free_slot(s.id)
  end
end

-- The calls parked on s return 'canceled' (once their ops ended); the
-- socket is free for the next call at once: that call waits for the
-- canceled op's end itself (drain).
function M.cancel(s)
  local n = 0
  for _, rec in ipairs{s._rrec, s._wrec} do
    if rec.pending and rec.thread then
      rec.canceled = rec.tok
      rec.busy = false
      n = n + 1
    end
    n = n + wake_others(rec, errors.canceled())
  end
  if pending_dirs(s) ~= 0 then cancel(s, pending_dirs(s)) end
  return n
end

-- A killed thread was parked on rec: cancel its op; the socket is held
-- until the op has ended (the thread is gone, so nothing else holds it).
function on_kill(rec)
  if rec.pending then
    orphan(rec)
    local s = rec.owner
    cancel(s, rec == s._rrec and READ or WRITE)
  end
end

-- The rec of a call waiting for the previous op of its direction to end.
local function drain_kill(w) w.main.busy = false end
local function drain_rec(rec)
  local w = rec.drain
  if not w then
    w = sched.new_rec()
    w.main, w.on_kill = rec, drain_kill
    rec.drain = w
  end
  return w
end

-- Waits until the previous op of rec's direction (canceled, or left by a
-- killed thread) has ended: true, or nil, err, code.
local function drain(s, rec, dl)
  local tok = claim(rec)
  local ok, err, code = park(drain_rec(rec), dl)
  release(rec, tok)
  if s._closed then return errors.closed() end
  if not ok then return nil, err, code end
  return true
end

-- Parks on rec until its op's end or until_t: true, park()'s results; or
-- false, an error park() raised. Only outside a socket2 thread can park()
-- raise once the op is pending (it runs the loop there, and re-raises a
-- thread's error); a thread's park() gets its arguments from us and is
-- never resumed with an error. So a thread calls it directly: through
-- pcall, the code after the wake could not be compiled (LuaJIT: "NYI:
-- return to lower frame" from the trace stitched after the yield).
local current = sched.current
local function park_op(rec, until_t)
  if current() then return true, park(rec, until_t) end
  return pcall(park, rec, until_t)
end

-- Parks until rec's op has ended, cancelling it at the deadline: its result
-- (>= 0), or nil, err, code.
local function await(s, rec, dir, dl, accepting)
  local tok = claim(rec)
  local why, why_code, raise -- why the op was cancelled; an error to re-raise
  local until_t = dl
  while rec.pending do
    local ok, r1, r2, r3 = park_op(rec, until_t)
    if rec.pending then -- woken by the deadline (or an error), not by the op's end
      if not ok then
        raise = raise or r1
      elseif not why and r1 == nil then
        why, why_code = r2, r3 -- 'timeout'
      end
      -- now wait for the op's own end; a cancel refused now is tried again soon
      until_t = cancel(s, dir) ~= 0 and clock() + 0.01 or nil
      if raise and not sched.can_park() then -- cannot wait: the anchor keeps buf
        orphan(rec)
        break
      end
    elseif not ok then
      raise = raise or r1
    end
  end
  release(rec, tok)
  local res = rec.res
  if raise then
    if accepting and not rec.pending and res >= 0 then sys.closesocket(res) end
    error(raise, 0)
  end
  if s._closed then
    if accepting and res >= 0 then sys.closesocket(res) end
    return errors.closed()
  end
  if res >= 0 then return res end
  if res == RES_CANCELED or res == RES_INTR then
    if why then return nil, why, why_code end
    if rec.canceled == tok then return errors.canceled() end
  end
  return errors.s2(res)
end

-- One op of direction dir, from submit to end: its result, or nil, err,
-- code. A previous op of that direction may still be ending: wait for it.
local function call(s, rec, dir, dl, code, fl, buf, len, addr, addrlen, ap, accepting)
  if rec.pending then
    local ok, err, ecode = drain(s, rec, dl)
    if not ok then return nil, err, ecode end
  end
  local rc = submit(s, rec, code, fl, buf, len, addr, addrlen, ap)
  if rc < 0 then return errors.s2(rc) end
  return await(s, rec, dir, dl, accepting)
end

-- plain syscalls ----------------------------------------------------------------

-- The plain syscall's result when it settles the call, else false (EAGAIN).
local function settled(n)
  if n >= 0 then return n end
  local e = errno()
  if e == EAGAIN or e == EWOULDBLOCK or e == EINTR then return false end
  return errors.os(e)
end

local would_block = errors.would_block

-- the uint32_t[1] the kernel writes an address length into (accept, recvfrom)
local function alenp(s)
  local p = s._alen
  if not p then p = alen_ct(); s._alen = p end
  return p
end

-- the interface -----------------------------------------------------------------

-- recv and send: one op each way, the same but for its direction
local function transfer(s, dir, buf, len, fl, expires)
  fl = band(fl, NOT_DONTWAIT)
  if DONTWAIT and s._nonblocking then
    local n, err, code = settled(dir == READ and C.recv(s.fd, buf, len, bor(fl, DONTWAIT))
      or C.send(s.fd, buf, len, bor(fl, DONTWAIT)))
    if n or err then return n, err, code end
    return would_block()
  end
  return call(s, dir == READ and s._rrec or s._wrec, dir, deadline(s, expires),
    dir == READ and OP_RECV or OP_SEND, fl, buf, len, nil, 0, nil)
end

function M.recv(s, buf, len, fl, expires) return transfer(s, READ, buf, len, fl, expires) end
function M.send(s, buf, len, fl, expires) return transfer(s, WRITE, buf, len, fl, expires) end

function M.recvfrom(s, buf, len, fl, from, expires)
  fl = band(fl, NOT_DONTWAIT)
  if DONTWAIT and s._nonblocking then
    lenp[0] = from and sizeof(from.ss) or 0
    local n, err, code = settled(C.recvfrom(s.fd, buf, len, bor(fl, DONTWAIT),
      from and ffi.cast(sa_ptr, from) or nil, from and lenp or nil))
    if n and from then from.len = lenp[0] end
    if n and n > len then return len, true end
    if n or err then return n, err, code end
    return would_block()
  end
  local ap, rec = from and alenp(s), s._rrec
  local n, err, code = call(s, rec, READ, deadline(s, expires), OP_RECVFROM, fl, buf, len,
    from, from and sizeof(from.ss) or 0, ap)
  if not n then return nil, err, code end
  if from then from.len = ap[0] end
  -- cut: io_uring says the real size (MSG_TRUNC), IOCP flags it (S2_TRUNC)
  if n > len or rec.cut then return len, true end
  return n
end

function M.sendto(s, buf, len, fl, p, alen, expires)
  fl = band(fl, NOT_DONTWAIT)
  if DONTWAIT and s._nonblocking then
    local n, err, code = settled(C.sendto(s.fd, buf, len, bor(fl, DONTWAIT), p, alen))
    if n or err then return n, err, code end
    return would_block()
  end
  return call(s, s._wrec, WRITE, deadline(s, expires), OP_SENDTO, fl, buf, len, p, alen, nil)
end

local PEER_GONE = errors.PEER_GONE

function M.accept(s, remote, expires)
  if s._nonblocking then
    while true do
      lenp[0] = sizeof(remote.ss)
      local cfd = sys.accept(s.fd, ffi.cast(sa_ptr, remote), lenp)
      if cfd ~= sys.INVALID_FD then remote.len = lenp[0]; return cfd end
      local e = errno()
      if e == EAGAIN or e == EWOULDBLOCK then return would_block() end
      if e ~= EINTR and not PEER_GONE[errors.name(e)] then return errors.os(e) end
    end
  end
  local rec, ap = s._rrec, alenp(s)
  local dl = deadline(s, expires)
  while true do
    local fd, err, code = call(s, rec, READ, dl, OP_ACCEPT, 0, nil, 0, remote, sizeof(remote.ss), ap, true)
    if fd then
      remote.len = ap[0]
      return fd
    end
    if not PEER_GONE[code] then return nil, err, code end -- the connection died: take the next
  end
end

function M.connect(s, p, len, expires)
  if s._nonblocking then
    if C.connect(s.fd, p, len) == 0 then return true end
    local e = errno()
    if e == EINPROGRESS or e == EAGAIN or e == EWOULDBLOCK or e == EINTR then
      return errors.in_progress()
    end
    return errors.os(e)
  end
  local r, err, code = call(s, s._wrec, WRITE, deadline(s, expires), OP_CONNECT, 0, nil, 0, p, len, nil)
  if not r then return nil, err, code end
  -- A CONNECT can end with 0 while the socket is still connecting: an ICMP
  -- error (host unreachable) that arrives while the kernel's connect() holds
  -- the socket is kept as a soft error and the handshake stays in SYN-SENT,
  -- yet io_uring (Linux 6.18 here) completes the op with 0. The pending
  -- error is read the way the reactor reads it after its write edge.
  lenp[0] = sizeof(optval)
  if C.getsockopt(s.fd, SOL_SOCKET, SO_ERROR, optval, lenp) ~= 0 then return errors.os(errno()) end
  if optval[0] ~= 0 then return errors.os(optval[0]) end
  return true
end

-- socket.select: rec (of s, direction dir) wakes sel when a POLL op says
-- the socket is ready. An op of that direction still ending is waited for.
function M.arm(s, rec, sel, dl)
  if rec.pending then
    local ok, err, code = drain(s, rec, dl)
    if not ok then return nil, err, code end
  end
  local d = rec == s._rrec and READ or WRITE
  local rc = submit(s, rec, OP_POLL, d, nil, 0, nil, 0, nil)
  if rc < 0 then return errors.s2(rc) end
  rec.sel = sel
  return true
end

function M.disarm(s, rec)
  rec.sel = false
  if rec.pending then cancel(s, rec == s._rrec and READ or WRITE) end -- a later call drains it
end

-- readiness on a completion backend: a one-shot POLL op
function M.wait(s, dir, expires, eagain)
  if eagain and s._nonblocking then return would_block() end
  local d = dir == 'r' and READ or WRITE
  local r, err, code = call(s, d == READ and s._rrec or s._wrec, d, deadline(s, expires), OP_POLL, d,
    nil, 0, nil, 0, nil)
  if not r then return nil, err, code end
  return true
end

return M
