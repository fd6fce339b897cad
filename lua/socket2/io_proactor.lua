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
--   * close()/release(): the pending ops are cancelled; each parked thread
--     returns nil, 'closed' when its op's end arrives (a connection accepted
--     meanwhile is closed). The slot stays allocated until then, so those
--     ends still find the socket.
-- The buffer is also anchored in the record until the end, so it outlives the
-- op even if its thread is never resumed.
local ffi = require'ffi'
local bit = require'bit'
local osx = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'

local S2 = shim.lib
local band, bnot = bit.band, bit.bnot
local park, wake = sched.park, sched.wake
local clock = osx.clock
local sizeof = ffi.sizeof

local READ, WRITE, DONE = S2.S2_READ, S2.S2_WRITE, S2.S2_DONE
local ECANCELED, EINTR = -S2.S2_ECANCELED, -S2.S2_EINTR
local OP_RECV, OP_SEND, OP_RECVFROM, OP_SENDTO = S2.S2_OP_RECV, S2.S2_OP_SEND, S2.S2_OP_RECVFROM, S2.S2_OP_SENDTO
local OP_ACCEPT, OP_CONNECT, OP_POLL, OP_CANCEL = S2.S2_OP_ACCEPT, S2.S2_OP_CONNECT, S2.S2_OP_POLL, S2.S2_OP_CANCEL
-- 'dontwait' is what every proactor call does anyway; passed to the kernel
-- it would turn a pending op into EAGAIN
local NOT_DONTWAIT = bnot(osx.MSG.dontwait or 0)

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
local op, opp = opbuf[0], ffi.cast('s2_op*', opbuf) -- neither keeps opbuf alive
local alen_ct = ffi.typeof'uint32_t[1]'

local M = {name = 'proactor', _opbuf = opbuf}

function M.init(s)
  s._npending = 0
  s._alen = false -- uint32_t[1] the kernel writes an address length into
end

-- Submits one op for s; 0 or -S2_E*.
local function submit(s, rec, code, fl, buf, len, addr, addrlen, alenp)
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
  rec.pending, rec.res, rec.anchor = false, result, nil
  s._npending = s._npending - 1
  if s._closed and s._npending == 0 then sched.free_slot(s.id) end
  if rec.thread then wake(rec, true) end
end

function M.close(s)
  local n = s._npending
  if n > 0 then
    local dirs = (s._rrec.pending and READ or 0) + (s._wrec.pending and WRITE or 0)
    cancel(s, dirs) -- the parked threads wake when their ops end
  else
    sched.free_slot(s.id)
  end
  -- nobody should be parked without an op; if so, wake them now
  if not s._rrec.pending then wake(s._rrec, errors.closed()) end
  if not s._wrec.pending then wake(s._wrec, errors.closed()) end
end

local function deadline(s, expires)
  if expires ~= nil then return expires or nil end
  local t = s._timeout
  return t and clock() + t
end

-- Parks until rec's op has ended (cancelling it at the deadline): its
-- result (>= 0), or nil, err, code.
local function await(s, rec, dir, dl, accepting)
  rec.busy = true
  local why, why_code -- why the op was cancelled
  local until_t = dl
  while rec.pending do
    local ok, err, code = park(rec, until_t)
    if not ok and rec.pending then -- the deadline (or a failing loop), not the op's end
      if not why then why, why_code = err or 'timeout', code or 'ETIMEDOUT' end
      -- now wait for the op's own end; a full queue refuses the cancel: retry soon
      until_t = cancel(s, dir) ~= 0 and clock() + 0.01 or nil
    end
  end
  rec.busy = false
  local res = rec.res
  if s._closed then
    if accepting and res >= 0 then osx.closesocket(res) end
    return errors.closed()
  end
  if res >= 0 then return res end
  if why and (res == ECANCELED or res == EINTR) then return nil, why, why_code end
  return errors.s2(res)
end

local function alenp(s)
  local p = s._alen
  if not p then p = alen_ct(); s._alen = p end
  return p
end

function M.recv(s, buf, len, fl, expires)
  local rec = s._rrec
  local rc = submit(s, rec, OP_RECV, band(fl, NOT_DONTWAIT), buf, len, nil, 0, nil)
  if rc < 0 then return errors.s2(rc) end
  return await(s, rec, READ, deadline(s, expires))
end

function M.send(s, buf, len, fl, expires)
  local rec = s._wrec
  local rc = submit(s, rec, OP_SEND, band(fl, NOT_DONTWAIT), buf, len, nil, 0, nil)
  if rc < 0 then return errors.s2(rc) end
  return await(s, rec, WRITE, deadline(s, expires))
end

function M.recvfrom(s, buf, len, fl, from, expires)
  local rec = s._rrec
  local ap = from and alenp(s)
  local rc = submit(s, rec, OP_RECVFROM, band(fl, NOT_DONTWAIT), buf, len, from,
    from and sizeof(from.ss) or 0, ap)
  if rc < 0 then return errors.s2(rc) end
  local n, err, code = await(s, rec, READ, deadline(s, expires))
  if n and from then from.len = ap[0] end
  return n, err, code
end

function M.sendto(s, buf, len, fl, p, alen, expires)
  local rec = s._wrec
  local rc = submit(s, rec, OP_SENDTO, band(fl, NOT_DONTWAIT), buf, len, p, alen, nil)
  if rc < 0 then return errors.s2(rc) end
  return await(s, rec, WRITE, deadline(s, expires))
end

function M.accept(s, remote, expires)
  local rec, ap = s._rrec, alenp(s)
  local dl = deadline(s, expires)
  while true do
    local rc = submit(s, rec, OP_ACCEPT, 0, nil, 0, remote, sizeof(remote.ss), ap)
    if rc < 0 then return errors.s2(rc) end
    local fd, err, code = await(s, rec, READ, dl, true)
    if fd then
      remote.len = ap[0]
      return fd
    end
    if code ~= 'ECONNABORTED' then return nil, err, code end -- aborted: take the next
  end
end

function M.connect(s, p, len, expires)
  local rec = s._wrec
  local rc = submit(s, rec, OP_CONNECT, 0, nil, 0, p, len, nil)
  if rc < 0 then return errors.s2(rc) end
  local r, err, code = await(s, rec, WRITE, deadline(s, expires))
  if not r then return nil, err, code end
  return true
end

-- readiness on a completion backend: a one-shot POLL op
function M.wait(s, dir, expires)
  local d = dir == 'r' and READ or WRITE
  local rec = d == READ and s._rrec or s._wrec
  local rc = submit(s, rec, OP_POLL, d, nil, 0, nil, 0, nil)
  if rc < 0 then return errors.s2(rc) end
  local r, err, code = await(s, rec, d, deadline(s, expires))
  if not r then return nil, err, code end
  return true
end

return M
