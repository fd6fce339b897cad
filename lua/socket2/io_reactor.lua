-- socket2/io_reactor.lua: socket I/O on a readiness backend (epoll, kqueue).
-- Each call tries the non-blocking syscall first and parks only on EAGAIN,
-- until the slot's edge-triggered event arrives. Two rules save syscalls: a
-- socket is registered with the loop only when it first has to wait, and on
-- a stream socket a short read (or write) means the kernel queue is drained
-- (full), so the next call waits for the edge instead of making a syscall
-- that can only return EAGAIN.
--
-- The I/O interface (io_proactor.lua implements the same one; socket.lua
-- picks one of them once, from the shim's caps):
--   init(s)                             set up a new socket object's I/O state
--   on_event(s, flags, result)          an event for s's slot (from sched)
--   close(s, keep_fd)                   s is being closed (or released): every
--                                       thread parked on it gets nil,'closed';
--                                       the slot is freed (now or once the
--                                       kernel is done with s). The caller
--                                       then closes the descriptor (unless keep_fd).
--   recv(s, buf, len, flags, expires)              -> n (0 at EOF)
--   send(s, buf, len, flags, expires)              -> n
--   recvfrom(s, buf, len, flags, from, expires)    -> n, from.len set (from may be nil);
--                                       n, true: the datagram was cut to len bytes
--   sendto(s, buf, len, flags, sa, salen, expires) -> n
--   accept(s, remote, expires)          -> descriptor of the new connection; remote.len set
--   connect(s, sa, salen, expires)      -> true
--   wait(s, dir, expires, eagain)       -> true once s is readable (dir 'r') or
--                                       writable ('w'); eagain: the caller's own
--                                       syscall just said EAGAIN (sendfile)
--   cancel(s)                           -> how many parked threads end with
--                                       nil, 'canceled', 'ECANCELED' (s stays open)
-- Every call returns nil, err, code on failure. flags are MSG_* bits (sends
-- include MSG_NOSIGNAL). expires: what args.deadline takes (nil: the socket's
-- own timeout, false: none, a number: the deadline). The caller has checked
-- the arguments and that no other thread uses the same direction of s.
-- A socket in non-blocking mode (s._nonblocking, s:setblocking(false))
-- never parks: nil, 'would block', 'EAGAIN' (connect: 'EINPROGRESS');
-- s:wait() still waits. Its calls always try the syscall (the caller runs
-- its own readiness loop: the edge flags may not have seen it).
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'
local args = require'socket2.args'

local C, S2 = sys.C, shim.lib
local band = bit.band
local EAGAIN, EWOULDBLOCK, EINTR, EINPROGRESS = sys.EAGAIN, sys.EWOULDBLOCK, sys.EINTR, sys.EINPROGRESS
local MSG_OOB = sys.MSG.oob
local errno = sys.errno
local park, wake, claim, release, spend = sched.park, sched.wake, sched.claim, sched.release, sched.spend
local clock, deadline = args.clock, args.deadline
local sizeof = ffi.sizeof

local READ, WRITE, HUP, ERROR = S2.S2_READ, S2.S2_WRITE, S2.S2_HUP, S2.S2_ERROR
local RMASK, WMASK = READ + HUP + ERROR, WRITE + ERROR

local sa_ptr = ffi.typeof'struct sockaddr*'
local lenp = ffi.new'socklen_t[1]'
local optval = ffi.new'int[1]'
local SOL_SOCKET, SO_ERROR = sys.SOCKOPT.error[1], sys.SOCKOPT.error[2]

local M = {}

-- The one op a reactor submits: (un)registering a socket with the loop.
local op1 = ffi.new's2_op[1]'
local function submit1(code, s, flags)
  local op = op1[0]
  op.op, op.fd, op.id, op.gen, op.flags = code, s.fd, s.id, s.gen, flags
  op.buf, op.addr, op.addrlenp, op.len, op.addrlen, op.aux = 0, 0, 0, 0, 0, 0
  S2.s2_submit(sched.loop(), op1, 1)
  return op.result
end

function M.init(s)
  s._rready, s._wready = true, true -- optimistic: try the syscall first
  s._rhup = false
  s._watched = false
end

-- A socket's wait record (see sched.new_rec).
M.new_rec = sched.new_rec

local function watch(s)
  local rc = submit1(S2.S2_OP_WATCH, s, READ + WRITE)
  if rc < 0 then return errors.s2(rc) end
  s._watched = true
  return true
end

function M.on_event(s, flags)
  if band(flags, RMASK) ~= 0 then
    s._rready = true
    if band(flags, HUP) ~= 0 then s._rhup = true end
    local rec = s._rrec
    if rec.thread then wake(rec, true) end
    if rec.sel then wake(rec.sel, true) end -- socket.select waits on it
  end
  if band(flags, WMASK) ~= 0 then
    s._wready = true
    local rec = s._wrec
    if rec.thread then wake(rec, true) end
    if rec.sel then wake(rec.sel, true) end
  end
end

function M.close(s, keep_fd)
  if keep_fd and s._watched then
    -- release(): the descriptor lives on, so it must leave the epoll set
    submit1(S2.S2_OP_UNWATCH, s, 0)
  end
  sched.free_slot(s.id)
  for _, rec in ipairs{s._rrec, s._wrec} do
    wake(rec, errors.closed())
    if rec.sel then wake(rec.sel, errors.closed()) end
  end
end

-- socket.select: rec (of s, direction dir) wakes sel on the next edge.
function M.arm(s, rec, sel)
  if not s._watched then
    local ok, err, code = watch(s)
    if not ok then return nil, err, code end
  end
  rec.sel = sel
  return true
end

function M.disarm(_, rec) rec.sel = false end

-- The woken calls return 'canceled' when they run; the socket is free for
-- the next call at once.
function M.cancel(s)
  local n = 0
  for _, rec in ipairs{s._rrec, s._wrec} do
    if wake(rec, errors.canceled()) then n = n + 1; rec.busy = false end
    if rec.sel and wake(rec.sel, errors.canceled()) then n = n + 1 end
  end
  return n
end

-- Parks on rec until the socket's next edge (or deadline/close). A socket
-- in non-blocking mode never parks (unless always): nil, 'would block'.
local function wait_edge(s, rec, dl, always)
  if s._nonblocking and not always then return errors.would_block() end
  if not s._watched then
    local ok, err, code = watch(s)
    if not ok then return nil, err, code end
  end
  local tok = claim(rec)
  local ok, err, code = park(rec, dl)
  release(rec, tok)
  if s._closed then return errors.closed() end
  return ok, err, code
end

-- The loop's fairness budget is spent (sched.spend): this call lets the
-- loop turn once before it goes on, parked on rec as a wait is (close()
-- wakes it with 'closed', cancel and kill work, another call of the same
-- direction is refused meanwhile) until a timer due now fires after the
-- next poll, or the socket's edge comes first.
local function pass(s, rec)
  local tok = claim(rec)
  local ok, err, code = park(rec, clock())
  release(rec, tok)
  if s._closed then return errors.closed() end
  if ok or code == 'ETIMEDOUT' then return true end
  return nil, err, code
end

function M.wait(s, dir, expires, eagain)
  if not eagain then
    if not s._watched then
      local ok, err, code = watch(s)
      if not ok then return nil, err, code end
    end
    -- registered first, so an edge after this check is not lost
    if sys.ready_now(s.fd, dir) then
      if dir == 'r' then s._rready = true else s._wready = true end -- (non-blocking callers rely on it)
      return true
    end
  end
  local rec
  if dir == 'r' then s._rready = false; rec = s._rrec else s._wready = false; rec = s._wrec end
  local ok, err, code = wait_edge(s, rec, deadline(s, expires), not eagain)
  if not ok then return nil, err, code end
  if dir == 'r' then s._rready = true else s._wready = true end
  return true
end

-- recv and send: no loop anywhere on their path. The ready case runs
-- straight through; the waiting case (recv_wait, send_wait) parks once and
-- then retries by a tail call with the deadline fixed. A loop here would
-- be an inner loop of every caller's loop (app code's "while true do
-- s:recv() ... end"): LuaJIT aborts such a root trace, blacklists it after
-- a few tries, and the code after each wait then runs in the interpreter.
-- Without one, the caller's loop compiles as one trace that ends at the
-- yield of the wait (stitched), and the code after the wake is compiled.
local recv, send

local function recv_wait(s, buf, len, fl, expires)
  local dl = deadline(s, expires)
  local ok, err, code = wait_edge(s, s._rrec, dl)
  if not ok then return nil, err, code end
  return recv(s, buf, len, fl, dl or false)
end

function recv(s, buf, len, fl, expires)
  if s._rready or s._nonblocking then
    if spend() then local ok, err, code = pass(s, s._rrec); if not ok then return nil, err, code end end
    local n = C.recv(s.fd, buf, len, fl)
    if n >= 0 then
      -- a short stream read drained the queue: wait for the next edge
      if n < len and n > 0 and fl == 0 and s._stream and not s._rhup then
        s._rready = false
      end
      return n
    end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK then
      -- no urgent byte yet (MSG_OOB): normal data may still be waiting, so
      -- wait for the next edge without forgetting that
      if band(fl, MSG_OOB) == 0 then s._rready = false end
      return recv_wait(s, buf, len, fl, expires)
    end
    if e ~= EINTR then return errors.os(e) end
    return recv(s, buf, len, fl, expires)
  end
  return recv_wait(s, buf, len, fl, expires)
end
M.recv = recv

local function send_wait(s, buf, len, fl, expires)
  local dl = deadline(s, expires)
  local ok, err, code = wait_edge(s, s._wrec, dl)
  if not ok then return nil, err, code end
  return send(s, buf, len, fl, dl or false)
end

function send(s, buf, len, fl, expires)
  if s._wready or s._nonblocking then
    if spend() then local ok, err, code = pass(s, s._wrec); if not ok then return nil, err, code end end
    local n = C.send(s.fd, buf, len, fl)
    if n >= 0 then
      -- a short stream write filled the queue: wait for the next edge
      if n < len and s._stream then s._wready = false end
      return n
    end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK then
      s._wready = false
      return send_wait(s, buf, len, fl, expires)
    end
    if e ~= EINTR then return errors.os(e) end
    return send(s, buf, len, fl, expires)
  end
  return send_wait(s, buf, len, fl, expires)
end
M.send = send

-- sendto and recvfrom: the same shape as recv and send (no loop).
local sendto, recvfrom

local function sendto_wait(s, buf, len, fl, p, alen, expires)
  local dl = deadline(s, expires)
  local ok, err, code = wait_edge(s, s._wrec, dl)
  if not ok then return nil, err, code end
  return sendto(s, buf, len, fl, p, alen, dl or false)
end

function sendto(s, buf, len, fl, p, alen, expires)
  if s._wready or s._nonblocking then
    if spend() then local ok, err, code = pass(s, s._wrec); if not ok then return nil, err, code end end
    local n = C.sendto(s.fd, buf, len, fl, p, alen)
    if n >= 0 then return n end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK then
      s._wready = false
      return sendto_wait(s, buf, len, fl, p, alen, expires)
    end
    if e ~= EINTR then return errors.os(e) end
    return sendto(s, buf, len, fl, p, alen, expires)
  end
  return sendto_wait(s, buf, len, fl, p, alen, expires)
end
M.sendto = sendto

local function recvfrom_wait(s, buf, len, fl, from, expires)
  local dl = deadline(s, expires)
  local ok, err, code = wait_edge(s, s._rrec, dl)
  if not ok then return nil, err, code end
  return recvfrom(s, buf, len, fl, from, dl or false)
end

function recvfrom(s, buf, len, fl, from, expires)
  if s._rready or s._nonblocking then
    if spend() then local ok, err, code = pass(s, s._rrec); if not ok then return nil, err, code end end
    lenp[0] = from and sizeof(from.ss) or 0
    local n = C.recvfrom(s.fd, buf, len, fl, from and ffi.cast(sa_ptr, from) or nil, from and lenp or nil)
    if n >= 0 then
      if from then from.len = lenp[0] end
      if n > len then return len, true end -- (MSG_TRUNC: the datagram's real size) cut
      return n
    end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK then
      s._rready = false
      return recvfrom_wait(s, buf, len, fl, from, expires)
    end
    if e ~= EINTR then return errors.os(e) end
    return recvfrom(s, buf, len, fl, from, expires)
  end
  return recvfrom_wait(s, buf, len, fl, from, expires)
end
M.recvfrom = recvfrom

-- accept: like recv, no loop (the caller's accept loop compiles).
local accept
local function accept_wait(s, remote, expires)
  local dl = deadline(s, expires)
  local ok, err, code = wait_edge(s, s._rrec, dl)
  if not ok then return nil, err, code end
  return accept(s, remote, dl or false)
end

function accept(s, remote, expires)
  if s._rready or s._nonblocking then
    if spend() then local ok, err, code = pass(s, s._rrec); if not ok then return nil, err, code end end
    lenp[0] = sizeof(remote.ss)
    local cfd = sys.accept(s.fd, ffi.cast(sa_ptr, remote), lenp)
    if cfd ~= sys.INVALID_FD then
      remote.len = lenp[0]
      return cfd
    end
    local e = errno()
    if e == EAGAIN or e == EWOULDBLOCK then
      s._rready = false
    elseif e ~= EINTR and not errors.PEER_GONE[errors.name(e)] then -- the peer left: take the next
      return errors.os(e)
    else
      return accept(s, remote, expires)
    end
  end
  return accept_wait(s, remote, expires)
end
M.accept = accept

-- connect: the socket is writable once the handshake ended; SO_ERROR says
-- how. A stale writable edge from before connect() proves nothing, so a
-- socket that is not writable now waits for the next edge.
local function connect_wait(s, dl)
  local ok, err, code = wait_edge(s, s._wrec, dl)
  if not ok then return nil, err, code end
  lenp[0] = sizeof(optval)
  if C.getsockopt(s.fd, SOL_SOCKET, SO_ERROR, optval, lenp) ~= 0 then return errors.os(errno()) end
  if optval[0] ~= 0 then return errors.os(optval[0]) end
  if sys.ready_now(s.fd, 'w') then s._wready = true; return true end
  s._wready = false
  return connect_wait(s, dl)
end

function M.connect(s, p, len, expires)
  if C.connect(s.fd, p, len) == 0 then s._wready = true; return true end
  local e = errno()
  if e == EINTR then e = EINPROGRESS end -- the connect goes on in the background
  if e ~= EINPROGRESS and e ~= EAGAIN and e ~= EWOULDBLOCK then return errors.os(e) end
  s._wready = false
  if s._nonblocking then return errors.in_progress() end
  return connect_wait(s, deadline(s, expires))
end

return M
