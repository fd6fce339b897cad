-- socket2/socket.lua: socket objects (tcp, udp, raw, unix): construction,
-- argument checks, options and addresses. The I/O itself (and all waiting)
-- is done by one of two modules with the same interface, chosen once from
-- the shim's caps: io_reactor.lua (epoll, kqueue: try the syscall, park on
-- EAGAIN until the readiness edge) or io_proactor.lua (IOCP, io_uring: the
-- kernel does the I/O with the caller's buffer; park until the completion).
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local addr = require'socket2.addr'
local errors = require'socket2.errors'
local args = require'socket2.args'
local options = require'socket2.options'

local C, S2 = sys.C, shim.lib
local bor = bit.bor
local AF, SOCK = sys.AF, sys.SOCK
local EAGAIN, EWOULDBLOCK, EINTR = sys.EAGAIN, sys.EWOULDBLOCK, sys.EINTR
local MSG_NOSIGNAL = sys.MSG_NOSIGNAL
local errno = sys.errno
local sizeof = ffi.sizeof
local type = type

local io = require(bit.band(shim.caps, S2.S2_CAP_COMPLETION) ~= 0
  and 'socket2.io_proactor' or 'socket2.io_reactor')

local M = {}

-- per-kind method tables, filled below
local common, stream, dgram = {}, {}, {}
local tcp_mt, udp_mt, raw_mt, unix_stream_mt, unix_dgram_mt

local sa_ct = addr.sa_ct
local sa_ptr = ffi.typeof'struct sockaddr*'
local lenp = ffi.new'socklen_t[1]'

-- construction ---------------------------------------------------------------

-- Forgotten sockets: each socket holds a small cdata whose finalizer runs
-- when the GC collects the socket (sched holds sockets weakly, but a thread
-- parked on one holds it). It closes the descriptor and tells sched, which
-- frees the slot at its next turn (sched.collected). close() and release()
-- disarm it (fd = -1), so a descriptor is never closed twice, even once its
-- number is reused.
ffi.cdef'typedef struct s2_sock_gc { double fd; } s2_sock_gc;'
local gc_ct = ffi.typeof's2_sock_gc'
local unix_paths = {} -- slot id -> the socket file a unix socket created (bind)
local function collected(g)
  if g.fd >= 0 then
    sys.closesocket(g.fd)
    sched.collected()
  end
end
sched.set_on_dead(function(id)
  local path = unix_paths[id]
  if path then unix_paths[id] = nil; os.remove(path) end
end)

local new_rec = io.new_rec
local function new(mt, fd, family, stype, protocol)
  -- the fields every socket uses, each there from the start (false until
  -- used): a key added later costs a table resize. 16 keys: the smallest
  -- hash part that holds them (fields of rare use are added when used).
  local s = setmetatable({
    fd = fd, _family = family, _type = stype, _protocol = protocol,
    _stream = stype == SOCK.stream,
    _closed = false,
    _rrec = new_rec(), _wrec = new_rec(), -- wait records of the two directions (see sched)
    id = 0, gen = 0, _gc = false,
    _rready = false, _wready = false, _rhup = false, _watched = false, -- io_reactor
    _npending = 0, -- io_proactor
  }, mt)
  local id, gen = sched.alloc_slot(s)
  s.id, s.gen = id, gen
  s._gc = ffi.gc(gc_ct(fd), collected)
  io.init(s)
  return s
end

local function create(mt, family, stype, protocol)
  local fd = sys.socket(family, stype, protocol)
  if fd == sys.INVALID_FD then return errors.os(errno()) end
  return new(mt, fd, family, stype, protocol)
end

local function family_arg(v, default, fname)
  return addr.family(v or default, fname, 1)
end

function M.tcp(family, protocol)
  local fam = family_arg(family, 'inet', 'tcp')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('tcp', 1, 'family must be inet or inet6') end
  return create(tcp_mt, fam, SOCK.stream, addr.protocol(protocol or 0, 'tcp', 2))
end

function M.udp(family, protocol)
  local fam = family_arg(family, 'inet', 'udp')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('udp', 1, 'family must be inet or inet6') end
  return create(udp_mt, fam, SOCK.dgram, addr.protocol(protocol or 0, 'udp', 2))
end

function M.raw(family, protocol)
  local fam = family_arg(family, 'inet', 'raw')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('raw', 1, 'family must be inet or inet6') end
  local proto = addr.protocol(protocol or (fam == AF.inet6 and 'icmpv6' or 'icmp'), 'raw', 2)
  return create(raw_mt, fam, SOCK.raw, proto)
end

function M.unix(stype)
  local st = addr.socktype(stype or 'stream', 'unix', 1)
  if st == SOCK.stream then return create(unix_stream_mt, AF.unix, st, 0)
  elseif st == SOCK.dgram or st == SOCK.seqpacket then return create(unix_dgram_mt, AF.unix, st, 0) end
  errors.arg('unix', 1, 'type must be stream, dgram or seqpacket')
end

-- socket.wrap(fd, [kind]): adopt an existing socket descriptor; kind 'fd':
-- any descriptor poll(2) takes (a pipe, an eventfd, a tty...), to wait on.
local fd_mt
function M.wrap(fd, kind)
  if type(fd) ~= 'number' or fd < 0 or fd ~= math.floor(fd) then
    errors.arg('wrap', 1, 'socket descriptor expected')
  end
  if kind == 'fd' then
    if not sys.fd_valid(fd) then
      if not sys.POLL_ANY_FD then
        return errors.fail('ENOSYS', 'waiting on a descriptor that is not a socket is not supported on this OS')
      end
      return errors.os(errno())
    end
    return new(fd_mt, fd, false, false, false)
  end
  local family, stype, protocol = sys.socket_info(fd)
  if not family then return errors.os(errno()) end
  local mt
  if family == AF.unix then
    mt = stype == SOCK.stream and unix_stream_mt or unix_dgram_mt
  elseif stype == SOCK.stream then mt = tcp_mt
  elseif stype == SOCK.dgram then mt = udp_mt
  elseif stype == SOCK.raw then mt = raw_mt
  else return errors.fail('EPROTOTYPE', 'unsupported socket type') end
  if kind ~= nil and kind ~= mt.kind then
    errors.arg('wrap', 2, ('descriptor is a %s socket, not %s'):format(mt.kind, tostring(kind)))
  end
  if not sys.set_nonblocking(fd, true) then return errors.os(errno()) end
  return new(mt, fd, family, stype, protocol)
end

-- waiting --------------------------------------------------------------------

-- sched hands every event for the socket's slot to the I/O module
common._on_event = io.on_event

-- common methods ---------------------------------------------------------------

function common:type() return options.type_name(self, self._type) end
function common:family() return addr.family_name[self._family] end
function common:protocol() return addr.proto_name[self._protocol] or self._protocol end
function common:closed() return self._closed end
function common:fileno() args.open(self, 'fileno'); return self.fd end
function common:kind() return getmetatable(self).kind end

function common:close()
  if self._closed then return true end
  self._closed = true
  self._gc.fd = -1
  local path = unix_paths[self.id]
  if path then unix_paths[self.id] = nil; os.remove(path) end
  io.close(self, false)
  if sys.closesocket(self.fd) ~= 0 then return errors.os(errno()) end
  return true
end

-- Detach: the socket object closes, the descriptor stays open and is returned.
function common:release()
  args.open(self, 'release')
  self._closed = true
  self._gc.fd = -1
  unix_paths[self.id] = nil -- its file stays: the descriptor is still bound to it
  io.close(self, true)
  return self.fd
end

function common:settimeout(t)
  args.open(self, 'settimeout')
  if type(t) ~= 'nil' and (type(t) ~= 'number' or t ~= t or t < 0) then
    errors.arg('settimeout', 1, 'timeout must be a non-negative number of seconds or nil')
  end
  self._timeout = t
  return true
end
function common:gettimeout() return self._timeout end

local function bind_one(p, len, fd)
  if C.bind(fd, p, len) == 0 then return true end
  return errors.os(errno())
end
function common:bind(host, port)
  args.open(self, 'bind')
  local target, err, code = addr.resolve(self, host, port, 'bind', 1, true)
  if not target then return nil, err, code end
  return addr.each(target, bind_one, self.fd)
end

local shut = sys.SHUT
function common:shutdown(how)
  args.open(self, 'shutdown')
  local h = shut[how or 'rw']
  if not h then errors.arg('shutdown', 1, 'how must be \'r\', \'w\' or \'rw\'') end
  if C.shutdown(self.fd, h) ~= 0 then return errors.os(errno()) end
  return true
end

local function sockname(self, fname, getter)
  args.open(self, fname)
  local s = sa_ct()
  lenp[0] = sizeof(s.ss)
  if getter(self.fd, ffi.cast(sa_ptr, s), lenp) ~= 0 then return errors.os(errno()) end
  s.len = lenp[0]
  return s
end
function common:getsockname() return sockname(self, 'getsockname', C.getsockname) end
function common:getpeername() return sockname(self, 'getpeername', C.getpeername) end

common.getopt, common.setopt = options.getopt, options.setopt

-- Bytes waiting to be read (FIONREAD).
function common:nread()
  args.open(self, 'nread')
  local n = sys.nread(self.fd)
  if not n then return errors.os(errno()) end
  return n
end

-- Waits until the socket is readable ('r') or writable ('w'), or the
-- timeout (seconds) passes: true, or nil,'timeout',code.
function common:wait(dir, timeout)
  args.open(self, 'wait')
  if dir ~= 'r' and dir ~= 'w' then errors.arg('wait', 1, 'direction must be \'r\' or \'w\'') end
  args.expires(timeout, 'wait', 2)
  args.busy(dir == 'r' and self._rrec or self._wrec, 'wait', dir == 'r' and 'reading' or 'writing')
  return io.wait(self, dir, args.deadline(self, timeout) or false)
end

-- setblocking(false): calls that would wait return nil, 'would block',
-- 'EAGAIN' at once instead (for callers that run their own readiness
-- loop with s:wait()); setblocking(true) restores waiting.
function common:setblocking(on)
  args.open(self, 'setblocking')
  if type(on) ~= 'boolean' then errors.arg('setblocking', 1, 'boolean expected') end
  self._nonblocking = not on
  return true
end
function common:getblocking() return not self._nonblocking end

-- receiving and sending --------------------------------------------------------

-- recv/send on a connected socket, arguments checked: n (0 at EOF), or
-- nil, err, code.
local function recv_checked(self, buf, len, expires, fl, fname)
  args.busy(self._rrec, fname, 'reading')
  return io.recv(self, buf, len, fl, expires)
end

local function recv(self, buf, len, expires, flags, fname)
  args.self(self, fname)
  args.rbuf(buf, len, fname)
  args.expires(expires, fname, 3)
  if len == 0 and self._stream then return 0 end -- nothing to wait for (0 is not EOF here)
  return recv_checked(self, buf, len, expires, args.msgflags(flags, fname, 4), fname)
end

local function send_checked(self, buf, len, expires, fl, fname)
  args.busy(self._wrec, fname, 'writing')
  return io.send(self, buf, len, fl, expires)
end

local function send(self, buf, len, expires, flags, fname)
  args.self(self, fname)
  len = args.wbuf(buf, len, fname)
  args.expires(expires, fname, 3)
  return send_checked(self, buf, len, expires, bor(args.msgflags(flags, fname, 4), MSG_NOSIGNAL), fname)
end

function stream:recv(buf, len, expires, flags) return recv(self, buf, len, expires, flags, 'recv') end
function stream:send(buf, len, expires, flags) return send(self, buf, len, expires, flags, 'send') end

-- Sends all len bytes: len, or nil, err, code, bytes_sent. The first send
-- takes the caller's buffer as it is; only a partial send makes a pointer.
function stream:sendall(buf, len, expires)
  args.self(self, 'sendall')
  len = args.wbuf(buf, len, 'sendall')
  args.expires(expires, 'sendall', 3)
  local dl = args.deadline(self, expires) or false
  local n, err, code = send_checked(self, buf, len, dl, MSG_NOSIGNAL, 'sendall')
  if not n then return nil, err, code, 0 end
  if n == len then return len end
  local p = type(buf) == 'string' and ffi.cast('const char*', buf) or ffi.cast('const uint8_t*', buf)
  local sent = n
  while sent < len do
    n, err, code = send_checked(self, p + sent, len - sent, dl, MSG_NOSIGNAL, 'sendall')
    if not n then return nil, err, code, sent end
    sent = sent + n
  end
  return len
end

-- Receives exactly len bytes: len, or nil, err, code, bytes_received
-- (err 'closed', code 'EOF' when the peer closed first).
function stream:recvall(buf, len, expires)
  args.self(self, 'recvall')
  args.rbuf(buf, len, 'recvall')
  args.expires(expires, 'recvall', 3)
  local dl = args.deadline(self, expires) or false
  local p = ffi.cast('uint8_t*', buf)
  local got = 0
  while got < len do
    local n, err, code = recv_checked(self, p + got, len - got, dl, 0, 'recvall')
    if not n then return nil, err, code, got end
    if n == 0 then
      local _, msg, eof = errors.eof()
      return nil, msg, eof, got
    end
    got = got + n
  end
  return len
end

-- connecting -----------------------------------------------------------------

-- connect(host, port, [expires]) or connect(sa | ai, [expires])
local function connect_one(p, len, s, dl) return io.connect(s, p, len, dl) end
local function connect(self, host, port, expires, fname)
  args.self(self, fname)
  if addr.is_sa(host) or addr.is_ai(host) then
    if expires == nil and type(port) == 'number' then expires = port end
    port = nil
  end
  args.expires(expires, fname, 3)
  args.busy(self._wrec, fname, 'writing')
  if self._connect_timed_out then
    -- the kernel may still be connecting (reactor), or the attempt was
    -- torn down (proactor): either way this socket's state is unknown
    return errors.fail('EALREADY', 'an earlier connect on this socket timed out and may still be in progress:'
      .. ' close the socket and connect a new one')
  end
  local dl = args.deadline(self, expires)
  local target, err, code = addr.resolve(self, host, port, fname, 1, false, dl)
  if not target then return nil, err, code end
  local ok
  ok, err, code = addr.each(target, connect_one, self, dl or false)
  if code == 'ETIMEDOUT' and self._stream then self._connect_timed_out = true end
  if code == 'EINPROGRESS' then
    self._connect_in_progress = true
  elseif self._connect_in_progress then
    -- connect called again after a non-blocking one said EINPROGRESS (the
    -- LuaSocket/copas way to ask whether it is done): Linux answers 0 once
    -- the connection is made, Windows and the BSDs EISCONN; both mean true
    self._connect_in_progress = nil
    if code == 'EISCONN' then ok, err, code = true, nil, nil end
  end
  return ok, err, code
end

function stream:connect(host, port, expires) return connect(self, host, port, expires, 'connect') end

-- listen([backlog,] [host, port]) or listen(host, port, backlog)
function stream:listen(a1, a2, a3)
  args.self(self, 'listen')
  local backlog, host, port
  if type(a1) == 'number' then backlog, host, port = a1, a2, a3
  else host, port, backlog = a1, a2, a3 end
  if type(backlog) ~= 'nil' and (type(backlog) ~= 'number' or backlog < 0 or backlog ~= math.floor(backlog)) then
    errors.arg('listen', 1, 'backlog must be a non-negative integer')
  end
  backlog = backlog or sys.SOMAXCONN
  if host ~= nil or port ~= nil or not self._bound then
    if self._family ~= AF.unix and sys.LISTEN_REUSEADDR then
      -- like LuaSocket and libuv: a restarted server can rebind at once
      self:setopt('reuseaddr', true)
    end
    local ok, err, code = self:bind(host, port)
    if not ok then return nil, err, code end
  end
  if C.listen(self.fd, backlog) ~= 0 then return errors.os(errno()) end
  self._listening = true
  return true
end

local function bind_and_mark(self, host, port)
  local ok, err, code = common.bind(self, host, port)
  if ok then self._bound = true end
  return ok, err, code
end
stream.bind = bind_and_mark

-- The local address of an accepted connection is the listener's own when
-- that is not a wildcard (0.0.0.0, ::): a copy of it then saves a
-- getsockname() per connection.
local AF_INET, AF_INET6 = AF.inet, AF.inet6
local in4_ptr, in6_ptr = ffi.typeof'struct sockaddr_in*', ffi.typeof'struct sockaddr_in6*'
local function is_wildcard(sa)
  local f = sys.sa_family(sa)
  if f == AF_INET then
    local a = ffi.cast(in4_ptr, sa).sin_addr
    return a[0] == 0 and a[1] == 0 and a[2] == 0 and a[3] == 0
  elseif f == AF_INET6 then
    local a = ffi.cast(in6_ptr, sa).sin6_addr
    for i = 0, 15 do if a[i] ~= 0 then return false end end
    return true
  end
  return false -- unix: an accepted socket's name is the listener's path
end

local function accepted_local(self, c)
  local lsa = self._lsa
  if lsa == nil then
    local sa = self:getsockname()
    lsa = sa and not is_wildcard(sa) and sa or false
    self._lsa = lsa
  end
  if lsa then return lsa:copy() end
  return c:getsockname()
end

-- accept([expires]) -> client, remote sa, local sa
function stream:accept(expires)
  args.self(self, 'accept')
  args.expires(expires, 'accept', 1)
  args.busy(self._rrec, 'accept', 'accepting on')
  local remote = sa_ct()
  local cfd, err, code = io.accept(self, remote, expires)
  if not cfd then return nil, err, code end
  local c = new(getmetatable(self), cfd, self._family, self._type, self._protocol)
  return c, remote, accepted_local(self, c)
end

-- datagrams ------------------------------------------------------------------

-- send(buf, [len], [host, port | sa], [expires], [flags]); without an
-- address the socket must be connected.
local function sendto_one(p, alen, s, buf, len, fl, dl) return io.sendto(s, buf, len, fl, p, alen, dl) end

-- A number where the address goes is the time argument: send(buf, [len],
-- [timeout], [flags]) on a connected socket, as on a stream socket.
function dgram:send(buf, len, host, port, expires, flags)
  args.self(self, 'send')
  len = args.wbuf(buf, len, 'send')
  if type(host) == 'number' then return send(self, buf, len, host, port, 'send') end
  if host == nil then return send(self, buf, len, expires, flags, 'send') end
  if addr.is_sa(host) or addr.is_ai(host) then
    flags, expires, port = expires, port, nil
  end
  args.expires(expires, 'send', 5)
  local fl = bor(args.msgflags(flags, 'send', 6), MSG_NOSIGNAL)
  args.busy(self._wrec, 'send', 'writing')
  local dl = args.deadline(self, expires)
  local target, err, code = addr.resolve(self, host, port, 'send', 3, false, dl)
  if not target then return nil, err, code end
  return addr.each(target, sendto_one, self, buf, len, fl, dl or false)
end
dgram.sendto = dgram.send

-- recvfrom(buf, len, sa, [expires], [flags]) -> n; fills the caller's sa
-- with the sender's address (no allocation). A datagram longer than len is
-- cut to len bytes and reported: nil, msg, 'EMSGSIZE', len (where the OS
-- tells: not on BSD).
local TRUNC = sys.MSG_TRUNC -- (Linux: the receive returns the real size)
local function recvfrom(self, buf, len, from, expires, flags, fname, argx)
  args.self(self, fname)
  args.rbuf(buf, len, fname)
  if type(from) ~= 'nil' and not addr.is_sa(from) then errors.arg(fname, 3, 'sockaddr expected') end
  args.expires(expires, fname, 3 + argx)
  local fl = bor(args.msgflags(flags, fname, 4 + argx), TRUNC)
  args.busy(self._rrec, fname, 'reading')
  local n, cut, code = io.recvfrom(self, buf, len, fl, from, expires)
  if n and not cut then return n end
  if n or code == 'EMSGSIZE' then -- (a non-blocking receive on Windows: WSAEMSGSIZE)
    return nil, ('datagram cut to the buffer\'s %d bytes'):format(len), 'EMSGSIZE', len
  end
  return nil, cut, code
end

function dgram:recvfrom(buf, len, from, expires, flags)
  return recvfrom(self, buf, len, from, expires, flags, 'recvfrom', 1)
end

-- recv(buf, len, [expires], [flags]) -> n, sender sa (a new sa per call;
-- recvfrom() fills one of yours instead); a cut datagram: nil, msg,
-- 'EMSGSIZE', len, sender sa.
function dgram:recv(buf, len, expires, flags)
  local from = sa_ct()
  local n, err, code, got = recvfrom(self, buf, len, from, expires, flags, 'recv', 0)
  if not n then
    if got then return nil, err, code, got, from end
    return nil, err, code
  end
  return n, from
end

function dgram:connect(host, port, expires)
  return connect(self, host, port, expires, 'connect')
end

-- Dissolves a udp:connect() association (connect to AF_UNSPEC).
function dgram:disconnect()
  args.self(self, 'disconnect')
  local s = sa_ct()
  sys.sa_set_family(s, AF.unspec, sizeof(s.ss))
  if C.connect(self.fd, ffi.cast(sa_ptr, s), sizeof'struct sockaddr') ~= 0 then
    local e = errno()
    if errors.name(e) ~= 'EAFNOSUPPORT' then return errors.os(e) end
  end
  return true
end

dgram.bind = common.bind

-- unix sockets: a socket file left behind by a dead server is "stale": a
-- connect to it is refused and open() says ENXIO (it is a socket, not a
-- file). bind() replaces a stale file, never a live one or a plain file, and
-- close() removes the file this socket created.
local function stale_unix_path(path, stype)
  if sys.unix_path_bound(path) then return false end -- bound, maybe not listening yet
  local fd = sys.socket(AF.unix, stype, 0)
  if fd == sys.INVALID_FD then return false end
  local sa = addr.unix(path)
  local refused = sa and C.connect(fd, ffi.cast(sa_ptr, sa), sa.len) ~= 0
    and errors.name(errno()) == 'ECONNREFUSED'
  sys.closesocket(fd)
  if not refused then return false end
  local f = sys.open_read(path)
  if f >= 0 then sys.close_file(f); return false end
  return errno() == sys.E_OPEN_SOCKET_FILE
end

local function unix_bind(self, path, port)
  local ok, err, code = common.bind(self, path, port)
  local file = type(path) == 'string' and path:sub(1, 1) ~= '\0'
  if not ok and code == 'EADDRINUSE' and file and stale_unix_path(path, self._type) then
    os.remove(path)
    ok, err, code = common.bind(self, path, port)
  end
  if ok then
    self._bound = true
    if file then unix_paths[self.id] = path end
  end
  return ok, err, code
end

-- cancel, atmark, sendfile ------------------------------------------------------

-- Wakes every thread parked on the socket with nil, 'canceled', 'ECANCELED';
-- unlike close() the socket stays open and usable. Returns how many.
function common:cancel()
  args.open(self, 'cancel')
  return io.cancel(self)
end

-- Is the read position at the out-of-band mark? (sockatmark)
function stream:atmark()
  args.open(self, 'atmark')
  local r = sys.atmark(self.fd)
  if r < 0 then return errors.os(errno()) end
  return r == 1
end

-- sendfile(path | fd, [offset], [len]): sends a file's bytes (the kernel
-- copies them); returns the bytes sent, or nil, err, code, sent.
function stream:sendfile(file, offset, len, expires)
  args.self(self, 'sendfile')
  local fd, own = file, false
  if type(file) == 'string' then
    if file:find('\0', 1, true) then errors.arg('sendfile', 1, 'path contains a NUL byte') end
    fd = sys.open_read(file)
    if fd < 0 then return errors.os(errno()) end
    own = true
  elseif type(file) ~= 'number' or file < 0 or file > 0x7fffffff or file ~= math.floor(file) then
    errors.arg('sendfile', 1, 'file path or descriptor expected')
  end
  offset = offset or 0
  if type(offset) ~= 'number' or offset < 0 then errors.arg('sendfile', 2, 'offset must be >= 0') end
  if type(len) ~= 'nil' and (type(len) ~= 'number' or len < 0) then errors.arg('sendfile', 3, 'length must be >= 0') end
  args.expires(expires, 'sendfile', 4)
  args.busy(self._wrec, 'sendfile', 'writing')
  local dl = args.deadline(self, expires)
  local offp = ffi.new('int64_t[1]', offset)
  local sent, r1, r2, r3 = 0, nil, nil, nil
  while not len or sent < len do
    local want = len and math.min(len - sent, 0x40000000) or 0x40000000
    local n = sys.sendfile(self.fd, fd, offp, want)
    if n > 0 then
      sent = sent + n
    elseif n == 0 then
      break -- end of file
    else
      local e = errno()
      if e == EAGAIN or e == EWOULDBLOCK then
        local ok, err, code = io.wait(self, 'w', dl or false, true)
        if not ok then r1, r2, r3 = nil, err, code; break end
      elseif e ~= EINTR then
        r1, r2, r3 = errors.os(e)
        break
      end
    end
  end
  if own then sys.close_file(fd) end
  if r2 then return r1, r2, r3, sent end
  return sent
end

-- shortcuts -------------------------------------------------------------------

-- socket.connect(host, port, [expires]): a tcp socket connected to the first
-- address of host that answers, IPv4 or IPv6 (the family comes from the
-- address), or nil, err, code.
function M.connect(host, port, expires)
  if not addr.is_ai(host) then -- errors name connect, not addr
    if type(host) ~= 'string' then errors.arg('connect', 1, 'host must be a string, got ' .. type(host)) end
    if host:find('\0', 1, true) then errors.arg('connect', 1, 'host contains a NUL byte') end
    addr.port(port, 'connect', 2)
  end
  args.expires(expires, 'connect', 3)
  expires = args.when(expires, nil) -- one deadline for the lookup and every attempt
  local ai, err, code = addr.addr(host, port, 'tcp', nil, nil, nil, expires)
  if not ai then return nil, err, code end
  for a in ai:addrs() do
    local s
    s, err, code = create(tcp_mt, a.ai_family, SOCK.stream, 0)
    if s then
      local ok
      ok, err, code = connect(s, a:sockaddr(), nil, expires, 'connect')
      if ok then return s end
      s:close()
    end
  end
  return nil, err, code
end

-- socket.listen(host, port, [backlog]): a listening tcp socket.
function M.listen(host, port, backlog)
  -- checked before the socket exists: an error raised later would leak it
  if type(host) ~= 'nil' then
    if type(host) ~= 'string' then errors.arg('listen', 1, 'host must be a string or nil, got ' .. type(host)) end
    if host:find('\0', 1, true) then errors.arg('listen', 1, 'host contains a NUL byte') end
  end
  addr.port(port, 'listen', 2)
  if type(backlog) ~= 'nil' and (type(backlog) ~= 'number' or backlog < 0 or backlog ~= math.floor(backlog)) then
    errors.arg('listen', 3, 'backlog must be a non-negative integer')
  end
  local fam = AF.inet
  if type(host) == 'string' and host:find(':', 1, true) then fam = AF.inet6 end
  local s, err, code = create(tcp_mt, fam, SOCK.stream, 0)
  if not s then return nil, err, code end
  local ok
  ok, err, code = s:listen(host, port, backlog)
  if not ok then s:close(); return nil, err, code end
  return s
end

-- metatables -------------------------------------------------------------------

local function class(kind, ...)
  local methods = {}
  for k, v in pairs(common) do methods[k] = v end
  for _, t in ipairs{...} do for k, v in pairs(t) do methods[k] = v end end
  return {__index = methods, kind = kind, methods = methods,
          __tostring = function(s) return ('socket2.%s: %s'):format(kind, s._closed and 'closed' or 'fd ' .. tostring(s.fd)) end}
end

tcp_mt = class('tcp', stream)
udp_mt = class('udp', dgram)
raw_mt = class('raw', dgram)
unix_stream_mt = class('unix', stream, {bind = unix_bind})
unix_dgram_mt = class('unix', dgram, {bind = unix_bind})
-- socket.wrap(fd, 'fd'): a descriptor to wait on, not a socket
do
  local m = {}
  for _, k in ipairs{'_on_event', 'closed', 'fileno', 'kind', 'close', 'release', 'settimeout', 'gettimeout',
                     'wait', 'cancel'} do m[k] = common[k] end
  fd_mt = {__index = m, kind = 'fd', methods = m,
           __tostring = function(s) return 'socket2.fd: ' .. (s._closed and 'closed' or tostring(s.fd)) end}
end

M.methods = {tcp = tcp_mt.methods, udp = udp_mt.methods, raw = raw_mt.methods,
             unix_stream = unix_stream_mt.methods, unix_dgram = unix_dgram_mt.methods, fd = fd_mt.methods}

function M.is_socket(v)
  local mt = getmetatable(v)
  return mt == tcp_mt or mt == udp_mt or mt == raw_mt or mt == unix_stream_mt or mt == unix_dgram_mt
end

return M
