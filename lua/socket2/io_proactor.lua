-- socket2/io_proactor.lua: socket I/O on a completion backend (IOCP; the
-- same path suits io_uring). Each call submits the operation with the
-- caller's buffer and parks until its completion (S2_DONE) carries the
-- result. The buffer (and the address room) stay referenced from the
-- direction's wait record until the completion has arrived, so the kernel
-- never writes memory the caller has got back:
--   * a deadline cancels the operation and waits for the cancel's
--     completion; if the operation won the race, its result is returned
--     (received data is never dropped);
--   * close() wakes the parked thread with nil,'closed', which still waits
--     for its completion before returning; the slot is freed once the
--     kernel is done with every operation of the socket.
-- The interface is the one io_reactor.lua has (socket.lua picks one of the
-- two from the shim's caps): init, on_event, close, recv, send, recvfrom,
-- sendto, accept, connect, wait. expires is an absolute clock() deadline,
-- or nil/false for none; flags are MSG_* bits.
local ffi = require'ffi'
local bit = require'bit'
local osx = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'

local C, S2 = osx.C, shim.lib
local band = bit.band
local park, wake = sched.park, sched.wake
local errno = osx.errno
local EAGAIN, EWOULDBLOCK = osx.EAGAIN, osx.EWOULDBLOCK
local sizeof, cast = ffi.sizeof, ffi.cast

local READ, WRITE, DONE = S2.S2_READ, S2.S2_WRITE, S2.S2_DONE
local OP_RECV, OP_SEND, OP_RECVFROM, OP_SENDTO = S2.S2_OP_RECV, S2.S2_OP_SEND,
  S2.S2_OP_RECVFROM, S2.S2_OP_SENDTO
local OP_ACCEPT, OP_CONNECT, OP_POLL, OP_CANCEL = S2.S2_OP_ACCEPT, S2.S2_OP_CONNECT,
  S2.S2_OP_POLL, S2.S2_OP_CANCEL
local ECANCELED = -S2.S2_ECANCELED

local op_ct = ffi.typeof's2_op[1]'
local len_ct = ffi.typeof'uint32_t[1]'
local u64 = ffi.typeof'uint64_t'
local cancel_op = op_ct()

-- the address of a buffer, string, struct or array, as s2_op carries it
local function addr_of(x) return cast(u64, cast('uintptr_t', cast('const void*', x))) end

local M = {name = 'proactor'}

-- closed sockets whose slot waits for the kernel to hand back their buffers
-- (tests drive the loop until this is 0 before checking for leaks)
M.closing = 0

function M.init(s)
  -- per direction: an s2_op and an address-length cell, made once
  s._rrec.op, s._rrec.lenp = op_ct(), len_ct()
  s._wrec.op, s._wrec.lenp = op_ct(), len_ct()
end

-- A completion for s's slot: the op of that direction is done.
function M.on_event(s, flags, result)
  if band(flags, DONE) == 0 then return end
  local rec = band(flags, READ) ~= 0 and s._rrec or s._wrec
  rec.iopending, rec.iodone, rec.iores = false, true, result
  rec.anchor, rec.anchor2 = nil, nil -- the kernel is done with the memory
  if rec.thread then wake(rec, true) end
  if s._closed and not s._rrec.iopending and not s._wrec.iopending and s.id then
    sched.free_slot(s.id)
    s.id = nil
    M.closing = M.closing - 1
  end
end

-- Close (or release): parked threads get nil,'closed' (each still waits
-- for its op's completion); the slot is freed when nothing is in flight.
local function cancel(s, dir)
  local c = cancel_op[0]
  c.op, c.fd, c.id, c.gen, c.flags = OP_CANCEL, s.fd, s.id, s.gen, dir
  S2.s2_submit(sched.loop(), cancel_op, 1)
end

-- s:cancel(): the kernel is asked to end what is in flight before the
-- parked threads are woken (socket.lua wakes them with 'canceled').
function M.cancel(s)
  if s._rrec.iopending or s._wrec.iopending then cancel(s, READ + WRITE) end
end

function M.close(s, keep_fd)
  local pend = s._rrec.iopending or s._wrec.iopending
  -- cancelled explicitly, not only by closing the descriptor: Wine does not
  -- end a pending send when its socket is closed
  if pend then cancel(s, READ + WRITE) end
  wake(s._rrec, errors.closed())
  wake(s._wrec, errors.closed())
  if not pend then
    sched.free_slot(s.id)
    s.id = nil
  else
    M.closing = M.closing + 1
  end
  -- else on_event frees the slot when the last completion is in
end

-- Submits rec's op and parks until its completion: the result (>= 0), or
-- nil, err, code.
local function run(s, rec, dir, expires)
  -- an op that an error abandoned (below) may still be in the kernel
  while rec.iopending do park(rec) end
  local op = rec.op
  local o = op[0]
  o.id, o.gen, o.fd = s.id, s.gen, s.fd
  rec.iodone = false
  if S2.s2_submit(sched.loop(), op, 1) ~= 1 then
    rec.anchor, rec.anchor2 = nil, nil
    return errors.s2(o.result)
  end
  rec.iopending = true
  local pok, ok, err, code = pcall(park, rec, expires or nil)
  if not pok then
    -- parking raised (misuse, or another thread's error while blocking):
    -- the op is cancelled; its completion comes to nobody
    cancel(s, dir)
    rec.busy = false
    error(ok, 0)
  end
  if ok == nil then
    -- deadline, close() or cancel(): cancel the op (close() and cancel()
    -- did already) and wait for the kernel to hand the buffer back
    if not rec.iodone then
      if code == 'ETIMEDOUT' then cancel(s, dir) end
      while not rec.iodone do park(rec) end
    end
    if s._closed then return errors.closed() end
    -- an op that completed before the cancel took stands: data is not lost
    if rec.iores < 0 and (rec.iores == ECANCELED or code ~= 'ETIMEDOUT') then
      return nil, err, code
    end
  end
  local r = rec.iores
  if r < 0 then return errors.s2(r) end
  return r
end

local function setup(rec, code, flags, buf, len)
  local o = rec.op[0]
  o.op, o.flags, o.len = code, flags or 0, len or 0
  o.buf = buf and addr_of(buf) or 0
  o.addr, o.addrlen, o.addrlenp, o.aux = 0, 0, 0, 0
  rec.anchor = buf
  return o
end

-- A socket in non-blocking mode (setblocking(false)) never parks: the
-- syscall is made directly, and would-block is an error.
local function direct(n)
  if n >= 0 then return n end
  local e = errno()
  if e == EAGAIN or e == EWOULDBLOCK then return nil, 'would block', 'EAGAIN' end
  return errors.os(e)
end

function M.recv(s, buf, len, flags, expires)
  if s._nonblocking then return direct(C.recv(s.fd, buf, len, flags)) end
  local rec = s._rrec
  setup(rec, OP_RECV, flags, buf, len)
  return run(s, rec, READ, expires)
end

function M.send(s, buf, len, flags, expires)
  if s._nonblocking then return direct(C.send(s.fd, buf, len, flags)) end
  local rec = s._wrec
  setup(rec, OP_SEND, flags, buf, len)
  return run(s, rec, WRITE, expires)
end

-- from: an s2_sockaddr to fill (from.len set), or nil.
function M.recvfrom(s, buf, len, flags, from, expires)
  local rec = s._rrec
  if s._nonblocking then
    local lp = rec.lenp
    lp[0] = from and sizeof(from.ss) or 0
    local n, err, code = direct(C.recvfrom(s.fd, buf, len, flags,
      from and cast('struct sockaddr*', from) or nil, from and cast('socklen_t*', lp) or nil))
    if n and from then from.len = lp[0] end
    return n, err, code
  end
  local o = setup(rec, OP_RECVFROM, flags, buf, len)
  if from then
    o.addr = addr_of(from)
    o.addrlen = sizeof(from.ss)
    o.addrlenp = addr_of(rec.lenp)
    rec.anchor2 = from
  end
  local n, err, code = run(s, rec, READ, expires)
  if n and from then from.len = rec.lenp[0] end
  return n, err, code
end

function M.sendto(s, buf, len, flags, sa, salen, expires)
  if s._nonblocking then return direct(C.sendto(s.fd, buf, len, flags, sa, salen)) end
  local rec = s._wrec
  local o = setup(rec, OP_SENDTO, flags, buf, len)
  o.addr, o.addrlen = addr_of(sa), salen -- copied at submit
  return run(s, rec, WRITE, expires)
end

-- remote: an s2_sockaddr for the peer's address. Returns the new socket.
function M.accept(s, remote, expires)
  local rec = s._rrec
  if s._nonblocking then
    local lp = rec.lenp
    lp[0] = sizeof(remote.ss)
    local fd = osx.accept(s.fd, cast('struct sockaddr*', remote), cast('socklen_t*', lp))
    if fd == osx.INVALID_FD then return direct(-1) end
    remote.len = lp[0]
    return fd
  end
  local o = setup(rec, OP_ACCEPT, 0, nil, 0)
  o.addr = addr_of(remote)
  o.addrlen = sizeof(remote.ss)
  o.addrlenp = addr_of(rec.lenp)
  rec.anchor2 = remote
  local fd, err, code = run(s, rec, READ, expires)
  if fd then remote.len = rec.lenp[0] end
  return fd, err, code
end

function M.connect(s, sa, salen, expires)
  if s._nonblocking then
    if C.connect(s.fd, sa, salen) == 0 then return true end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK or e == osx.EINPROGRESS then
      return nil, 'connection in progress', 'EINPROGRESS'
    end
    return errors.os(e)
  end
  local rec = s._wrec
  local o = setup(rec, OP_CONNECT, 0, nil, 0)
  o.addr, o.addrlen = addr_of(sa), salen -- copied at submit
  local r, err, code = run(s, rec, WRITE, expires)
  if not r then return nil, err, code end
  return true
end

-- Readiness, one shot: true once s is readable ('r') or writable ('w').
-- A completion backend cannot wait for write space: 'w' is true at once.
function M.wait(s, dir, expires)
  local rec = dir == 'r' and s._rrec or s._wrec
  setup(rec, OP_POLL, dir == 'r' and READ or WRITE, nil, 0)
  local r, err, code = run(s, rec, dir == 'r' and READ or WRITE, expires)
  if not r then
    if code == 'ECONNRESET' or code == 'ECONNABORTED' then return true end -- readable: recv says why
    return nil, err, code
  end
  return true
end

return M
