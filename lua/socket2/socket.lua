-- socket2/socket.lua: socket objects (tcp, udp, raw, unix): construction,
-- argument checks, options and addresses. The I/O itself (and all waiting)
-- is done by one of two modules with the same interface, chosen once from
-- the shim's caps: io_reactor.lua (epoll, kqueue: try the syscall, park on
-- EAGAIN until the readiness edge) or io_proactor.lua (IOCP, io_uring: the
-- kernel does the I/O with the caller's buffer; park until the completion).
local ffi = require'ffi'
local bit = require'bit'
local osx = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local addr = require'socket2.addr'
local errors = require'socket2.errors'

local C, S2 = osx.C, shim.lib
local bor = bit.bor
local AF, SOCK = osx.AF, osx.SOCK
local EAGAIN, EWOULDBLOCK, EINTR = osx.EAGAIN, osx.EWOULDBLOCK, osx.EINTR
local MSG_NOSIGNAL = osx.MSG_NOSIGNAL
local errno = osx.errno
local clock = osx.clock
local sizeof = ffi.sizeof
local type = type

local io = require(bit.band(shim.caps, S2.S2_CAP_COMPLETION) ~= 0
  and 'socket2.io_proactor' or 'socket2.io_reactor')

local LEN_MAX = 0x7fffffff

local M = {}

-- per-kind method tables, filled below
local common, stream, dgram = {}, {}, {}
local tcp_mt, udp_mt, raw_mt, unix_stream_mt, unix_dgram_mt

local sa_ct = addr.sa_ct
local sa_ptr = ffi.typeof'struct sockaddr*'
local lenp = ffi.new'socklen_t[1]'
local optval = ffi.new'int[1]'
local lingerval = ffi.new'struct linger'

-- construction ---------------------------------------------------------------

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
    id = 0, gen = 0,
    _rready = false, _wready = false, _rhup = false, _watched = false, -- io_reactor
    _npending = 0, _alen = false, -- io_proactor
  }, mt)
  s.id, s.gen = sched.alloc_slot(s)
  io.init(s)
  return s
end

local function create(mt, fname, family, stype, protocol)
  local fd = osx.socket(family, stype, protocol)
  if fd == osx.INVALID_FD then return errors.os(errno()) end
  return new(mt, fd, family, stype, protocol)
end

local function family_arg(v, default, fname)
  return addr.family(v or default, fname, 1)
end

function M.tcp(family, protocol)
  local fam = family_arg(family, 'inet', 'tcp')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('tcp', 1, 'family must be inet or inet6') end
  return create(tcp_mt, 'tcp', fam, SOCK.stream, addr.protocol(protocol or 0, 'tcp', 2))
end

function M.udp(family, protocol)
  local fam = family_arg(family, 'inet', 'udp')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('udp', 1, 'family must be inet or inet6') end
  return create(udp_mt, 'udp', fam, SOCK.dgram, addr.protocol(protocol or 0, 'udp', 2))
end

function M.raw(family, protocol)
  local fam = family_arg(family, 'inet', 'raw')
  if fam ~= AF.inet and fam ~= AF.inet6 then errors.arg('raw', 1, 'family must be inet or inet6') end
  local proto = addr.protocol(protocol or (fam == AF.inet6 and 'icmpv6' or 'icmp'), 'raw', 2)
  return create(raw_mt, 'raw', fam, SOCK.raw, proto)
end

function M.unix(stype)
  local st = addr.socktype(stype or 'stream', 'unix', 1)
  if st == SOCK.stream then return create(unix_stream_mt, 'unix', AF.unix, st, 0)
  elseif st == SOCK.dgram or st == SOCK.seqpacket then return create(unix_dgram_mt, 'unix', AF.unix, st, 0) end
  errors.arg('unix', 1, 'type must be stream, dgram or seqpacket')
end

-- socket.wrap(fd, [kind]): adopt an existing socket descriptor.
function M.wrap(fd, kind)
  if type(fd) ~= 'number' or fd < 0 or fd ~= math.floor(fd) then
    errors.arg('wrap', 1, 'socket descriptor expected')
  end
  local family, stype, protocol = osx.socket_info(fd)
  if not family then return errors.os(errno()) end
  local mt
  if family == AF.unix then
    mt = stype == SOCK.stream and unix_stream_mt or unix_dgram_mt
  elseif stype == SOCK.stream then mt = tcp_mt
  elseif stype == SOCK.dgram then mt = udp_mt
  elseif stype == SOCK.raw then mt = raw_mt
  else return nil, 'unsupported socket type', 'EPROTOTYPE' end
  if kind ~= nil and kind ~= mt.kind then
    errors.arg('wrap', 2, ('descriptor is a %s socket, not %s'):format(mt.kind, tostring(kind)))
  end
  if not osx.set_nonblocking(fd, true) then return errors.os(errno()) end
  return new(mt, fd, family, stype, protocol)
end

-- argument checks ------------------------------------------------------------

local function check_open(self, fname)
  if self._closed then errors.misuse(fname, 'socket is closed') end
end

local function check_self(self, fname)
  if type(self) ~= 'table' or self._rrec == nil then
    errors.misuse(fname, 'socket expected (did you call it with . instead of :?)')
  end
  if self._closed then errors.misuse(fname, 'socket is closed') end
end

local function check_expires(expires, fname, argn)
  if type(expires) ~= 'nil' and (type(expires) ~= 'number' or expires ~= expires) then -- NULL == nil: refuse it
    errors.arg(fname, argn, 'expires must be a clock() time or nil')
  end
end

-- The size of a cdata buffer, or nil for a pointer (unknown). Only arrays,
-- pointers and structs are buffers: a scalar cdata (an int64, a double)
-- would reach C as a pointer made of its value. The kind of a ctype is
-- decided by its type (an 8-byte array is no pointer) and cached by ctype
-- id. ffi.sizeof() of a variable-length array (ffi.new('uint8_t[?]', n)) is
-- not compiled by LuaJIT (it aborted the trace of every recv/send given
-- one), so the sizes of arrays seen before are kept by object, weakly.
--
-- A never-seen array (or ctype) takes the slow path, and that runs in a
-- coroutine of its own: LuaJIT stitches the caller's trace around
-- coroutine.resume instead of recording into ffi.sizeof. Recorded, it
-- aborts the trace ("bad argument type"), and a side exit whose trace
-- aborts four times is left to the interpreter for good: new buffers
-- appear while a program's traces form, and the rest of every request
-- after such an exit then ran interpreted.
local buf_sizes = setmetatable({}, {__mode = 'k'})
local ctype_kind = {} -- id -> 'ptr' | 'sized' | 'scalar'
local function s_of(ct) return tostring(ct):match'^ctype<(.*)>$' or tostring(ct) end
local function slow_size(buf)
  while true do
    local ct = ffi.typeof(buf)
    local id = tonumber(ct)
    local kind = ctype_kind[id]
    if kind == nil then
      local s = tostring(ct)
      if s:find'%*>$' or s:find'&>$' then kind = 'ptr'
      elseif s:find'%[' or s:find'^ctype<struct' or s:find'^ctype<union' then kind = 'sized'
      else kind = 'scalar' end
      ctype_kind[id] = kind
    end
    local size = kind -- 'ptr' or 'scalar': no size
    if kind == 'sized' then
      size = sizeof(buf)
      buf_sizes[buf] = size
    end
    buf = coroutine.yield(size)
  end
end
local sizer = coroutine.create(slow_size)
local function buf_size(buf, fname)
  local size = buf_sizes[buf]
  if size then return size end
  local ct = ffi.typeof(buf)
  local kind = ctype_kind[tonumber(ct)]
  if kind == 'ptr' then return nil end -- a pointer: not kept (often temporary)
  if kind ~= 'scalar' then
    local ok
    ok, size = coroutine.resume(sizer, buf)
    if not ok then sizer = coroutine.create(slow_size); error(size, 0) end
    if size == 'ptr' then return nil end
    if size ~= 'scalar' then return size end
  end
  errors.arg(fname, 1, 'buffer expected (a cdata array, pointer or struct), got ' .. s_of(ct))
end

-- buffer + length for reading into: cdata and a length that fits it
local function check_rbuf(buf, len, fname)
  if type(buf) ~= 'cdata' then
    errors.arg(fname, 1, 'cdata buffer expected, got ' .. type(buf))
  end
  if type(len) ~= 'number' or len ~= len or len < 0 or len ~= math.floor(len) then
    errors.arg(fname, 2, 'length must be a non-negative integer')
  end
  local size = buf_size(buf, fname)
  if size and len > size then
    errors.arg(fname, 2, ('length %d is larger than the buffer (%d bytes)'):format(len, size))
  end
  if len > LEN_MAX then errors.arg(fname, 2, 'length too large') end
  if not size and len > 0 and buf == nil then errors.arg(fname, 1, 'NULL buffer') end
end

-- buffer + length for sending: string (len defaults to #s) or cdata
local function check_wbuf(buf, len, fname)
  local t = type(buf)
  if t == 'string' then
    if len == nil then return #buf end
    if type(len) ~= 'number' or len < 0 or len > #buf or len ~= math.floor(len) then
      errors.arg(fname, 2, ('length must be an integer 0..%d'):format(#buf))
    end
    return len
  elseif t == 'cdata' then
    if type(len) ~= 'number' or len ~= len or len < 0 or len ~= math.floor(len) then
      errors.arg(fname, 2, 'length must be a non-negative integer')
    end
    local size = buf_size(buf, fname)
    if size and len > size then
      errors.arg(fname, 2, ('length %d is larger than the buffer (%d bytes)'):format(len, size))
    end
    if len > LEN_MAX then errors.arg(fname, 2, 'length too large') end
    if not size and len > 0 and buf == nil then errors.arg(fname, 1, 'NULL buffer') end
    return len
  end
  errors.arg(fname, 1, 'string or cdata expected, got ' .. t)
end

local msgflag_cache = {}
local function msgflags(flags, fname, argn)
  if flags == nil then return 0 end
  local f = msgflag_cache[flags]
  if f then return f end
  if type(flags) ~= 'string' then errors.arg(fname, argn, 'flags must be a string like \'peek\' or \'peek oob\'') end
  f = 0
  for name in flags:gmatch'%S+' do
    local v = osx.MSG[name]
    if not v then errors.arg(fname, argn, ('unknown flag \'%s\''):format(name)) end
    f = bor(f, v)
  end
  msgflag_cache[flags] = f
  return f
end

-- waiting --------------------------------------------------------------------

-- sched hands every event for the socket's slot to the I/O module
common._on_event = io.on_event

-- The deadline of a call: explicit expires, else the socket's timeout.
local function deadline(self, expires)
  if expires then return expires end
  local t = self._timeout
  return t and clock() + t
end

local function busy(rec, fname, what)
  if rec.busy then
    errors.misuse(fname, ('another thread is already %s this socket'):format(what))
  end
end

-- common methods ---------------------------------------------------------------

local unix_type_name = {[SOCK.stream] = 'stream', [SOCK.dgram] = 'dgram', [SOCK.seqpacket] = 'seqpacket'}
local function type_name(self, stype)
  if self._family == AF.unix then return unix_type_name[stype] end
  return addr.type_name[stype]
end
function common:type() return type_name(self, self._type) end
function common:family() return addr.family_name[self._family] end
function common:protocol() return addr.proto_name[self._protocol] or self._protocol end
function common:closed() return self._closed end
function common:fileno() check_open(self, 'fileno'); return self.fd end
function common:kind() return getmetatable(self).kind end

function common:close()
  if self._closed then return true end
  self._closed = true
  if self._unlink_path then os.remove(self._unlink_path) end
  io.close(self, false)
  if osx.closesocket(self.fd) ~= 0 then return errors.os(errno()) end
  return true
end

-- Detach: the socket object closes, the descriptor stays open and is returned.
function common:release()
  check_open(self, 'release')
  self._closed = true
  io.close(self, true)
  return self.fd
end

function common:settimeout(t)
  check_open(self, 'settimeout')
  if type(t) ~= 'nil' and (type(t) ~= 'number' or t ~= t or t < 0) then
    errors.arg('settimeout', 1, 'timeout must be a non-negative number of seconds or nil')
  end
  self._timeout = t
  return true
end
function common:gettimeout() return self._timeout end

function common:bind(host, port)
  check_open(self, 'bind')
  local target, err, code = addr.resolve(self, host, port, 'bind', 1, true)
  if not target then return nil, err, code end
  local fd = self.fd
  return addr.each(target, function(p, len)
    if C.bind(fd, p, len) == 0 then return true end
    return errors.os(errno())
  end)
end

local shut = osx.SHUT
function common:shutdown(how)
  check_open(self, 'shutdown')
  local h = shut[how or 'rw']
  if not h then errors.arg('shutdown', 1, 'how must be \'r\', \'w\' or \'rw\'') end
  if C.shutdown(self.fd, h) ~= 0 then return errors.os(errno()) end
  return true
end

local function sockname(self, fname, getter)
  check_open(self, fname)
  local s = sa_ct()
  lenp[0] = sizeof(s.ss)
  if getter(self.fd, ffi.cast(sa_ptr, s), lenp) ~= 0 then return errors.os(errno()) end
  s.len = lenp[0]
  return s
end
function common:getsockname() return sockname(self, 'getsockname', C.getsockname) end
function common:getpeername() return sockname(self, 'getpeername', C.getpeername) end

local function opt_def(name, fname)
  local o = osx.SOCKOPT[name]
  if not o then errors.arg(fname, 1, ('unknown option \'%s\''):format(tostring(name))) end
  return o
end

function common:getopt(name)
  check_open(self, 'getopt')
  local o = opt_def(name, 'getopt')
  local kind = o[3]
  local p = kind == 'linger' and lingerval or optval
  lenp[0] = kind == 'linger' and sizeof(lingerval) or sizeof(optval)
  optval[0] = 0
  if C.getsockopt(self.fd, o[1], o[2], p, lenp) ~= 0 then return errors.os(errno()) end
  if kind == 'bool' then return optval[0] ~= 0
  elseif kind == 'int' then return optval[0]
  elseif kind == 'linger' then return lingerval.l_onoff ~= 0 and lingerval.l_linger or false
  elseif kind == 'error' then
    -- the pending error, cleared by reading it: nil when there is none
    if optval[0] == 0 then return nil end
    local _, msg, code = errors.os(optval[0])
    return msg, code
  elseif kind == 'type' then return type_name(self, optval[0]) or optval[0] end
end

function common:setopt(name, v)
  check_open(self, 'setopt')
  local o = opt_def(name, 'setopt')
  local kind = o[3]
  if o.ro then errors.arg('setopt', 1, ('option \'%s\' is read-only'):format(name)) end
  local p, len
  if kind == 'bool' then
    if type(v) ~= 'boolean' then errors.arg('setopt', 2, ('option \'%s\' takes a boolean'):format(name)) end
    optval[0] = v and 1 or 0; p, len = optval, sizeof(optval)
  elseif kind == 'int' then
    if type(v) ~= 'number' or v ~= math.floor(v) or v < -0x80000000 or v > 0x7fffffff then
      errors.arg('setopt', 2, ('option \'%s\' takes an integer'):format(name))
    end
    optval[0] = v; p, len = optval, sizeof(optval)
  elseif kind == 'linger' then
    if v ~= false and (type(v) ~= 'number' or v < 0 or v ~= math.floor(v)) then
      errors.arg('setopt', 2, 'option \'linger\' takes false or whole seconds >= 0')
    end
    lingerval.l_onoff = v and 1 or 0
    lingerval.l_linger = v or 0
    p, len = lingerval, sizeof(lingerval)
  end
  if C.setsockopt(self.fd, o[1], o[2], p, len) ~= 0 then return errors.os(errno()) end
  return true
end

-- Bytes waiting to be read (FIONREAD).
function common:nread()
  check_open(self, 'nread')
  local n = osx.nread(self.fd)
  if not n then return errors.os(errno()) end
  return n
end

-- Waits until the socket is readable ('r') or writable ('w'), or the
-- timeout (seconds) passes: true, or nil,'timeout',code.
function common:wait(dir, timeout)
  check_open(self, 'wait')
  if dir ~= 'r' and dir ~= 'w' then errors.arg('wait', 1, 'direction must be \'r\' or \'w\'') end
  if type(timeout) ~= 'nil' and (type(timeout) ~= 'number' or timeout ~= timeout) then
    errors.arg('wait', 2, 'timeout must be a number of seconds or nil')
  end
  busy(dir == 'r' and self._rrec or self._wrec, 'wait', dir == 'r' and 'reading' or 'writing')
  return io.wait(self, dir, timeout and clock() + timeout or false)
end

-- setblocking(false): calls that would wait return nil, 'would block',
-- 'EAGAIN' at once instead (for callers that run their own readiness
-- loop with s:wait()); setblocking(true) restores waiting.
function common:setblocking(on)
  check_open(self, 'setblocking')
  if type(on) ~= 'boolean' then errors.arg('setblocking', 1, 'boolean expected') end
  self._nonblocking = not on
  return true
end
function common:getblocking() return not self._nonblocking end

-- receiving and sending --------------------------------------------------------

-- recv/send on a connected socket, arguments checked: n (0 at EOF), or
-- nil, err, code.
local function recv_checked(self, buf, len, expires, fl, fname)
  busy(self._rrec, fname, 'reading')
  return io.recv(self, buf, len, fl, expires)
end

local function recv(self, buf, len, expires, flags, fname)
  check_self(self, fname)
  check_rbuf(buf, len, fname)
  check_expires(expires, fname, 3)
  return recv_checked(self, buf, len, expires, msgflags(flags, fname, 4), fname)
end

local function send_checked(self, buf, len, expires, fl, fname)
  busy(self._wrec, fname, 'writing')
  return io.send(self, buf, len, fl, expires)
end

local function send(self, buf, len, expires, flags, fname)
  check_self(self, fname)
  len = check_wbuf(buf, len, fname)
  check_expires(expires, fname, 3)
  return send_checked(self, buf, len, expires, bor(msgflags(flags, fname, 4), MSG_NOSIGNAL), fname)
end

function stream:recv(buf, len, expires, flags) return recv(self, buf, len, expires, flags, 'recv') end
function stream:send(buf, len, expires, flags) return send(self, buf, len, expires, flags, 'send') end

-- Sends all len bytes: len, or nil, err, code, bytes_sent. The first send
-- takes the caller's buffer as it is; only a partial send makes a pointer.
function stream:sendall(buf, len, expires)
  check_self(self, 'sendall')
  len = check_wbuf(buf, len, 'sendall')
  check_expires(expires, 'sendall', 3)
  expires = deadline(self, expires)
  local n, err, code = send_checked(self, buf, len, expires, MSG_NOSIGNAL, 'sendall')
  if not n then return nil, err, code, 0 end
  if n == len then return len end
  local p = type(buf) == 'string' and ffi.cast('const char*', buf) or ffi.cast('const uint8_t*', buf)
  local sent = n
  while sent < len do
    n, err, code = send_checked(self, p + sent, len - sent, expires, MSG_NOSIGNAL, 'sendall')
    if not n then return nil, err, code, sent end
    sent = sent + n
  end
  return len
end

-- Receives exactly len bytes: len, or nil, err, code, bytes_received
-- (err 'closed', code 'EOF' when the peer closed first).
function stream:recvall(buf, len, expires)
  check_self(self, 'recvall')
  check_rbuf(buf, len, 'recvall')
  check_expires(expires, 'recvall', 3)
  expires = deadline(self, expires)
  local p = ffi.cast('uint8_t*', buf)
  local got = 0
  while got < len do
    local n, err, code = recv_checked(self, p + got, len - got, expires, 0, 'recvall')
    if not n then return nil, err, code, got end
    if n == 0 then return nil, 'closed', 'EOF', got end
    got = got + n
  end
  return len
end

-- connecting -----------------------------------------------------------------

-- connect(host, port, [expires]) or connect(sa | ai, [expires])
local function connect(self, host, port, expires, fname)
  check_self(self, fname)
  if addr.is_sa(host) or addr.is_ai(host) then
    if expires == nil and type(port) == 'number' then expires = port end
    port = nil
  end
  check_expires(expires, fname, 3)
  busy(self._wrec, fname, 'writing')
  local dl = deadline(self, expires)
  local target, err, code = addr.resolve(self, host, port, fname, 1, false, dl)
  if not target then return nil, err, code end
  return addr.each(target, function(p, len) return io.connect(self, p, len, dl or false) end)
end

function stream:connect(host, port, expires) return connect(self, host, port, expires, 'connect') end

-- listen([backlog,] [host, port]) or listen(host, port, backlog)
function stream:listen(a1, a2, a3)
  check_self(self, 'listen')
  local backlog, host, port
  if type(a1) == 'number' then backlog, host, port = a1, a2, a3
  else host, port, backlog = a1, a2, a3 end
  if type(backlog) ~= 'nil' and (type(backlog) ~= 'number' or backlog < 0 or backlog ~= math.floor(backlog)) then
    errors.arg('listen', 1, 'backlog must be a non-negative integer')
  end
  backlog = backlog or osx.SOMAXCONN
  if host ~= nil or port ~= nil or not self._bound then
    if self._family ~= AF.unix and osx.LISTEN_REUSEADDR then
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
  local f = osx.sa_family(sa)
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
  check_self(self, 'accept')
  check_expires(expires, 'accept', 1)
  busy(self._rrec, 'accept', 'accepting on')
  local remote = sa_ct()
  local cfd, err, code = io.accept(self, remote, expires)
  if not cfd then return nil, err, code end
  local c = new(getmetatable(self), cfd, self._family, self._type, self._protocol)
  return c, remote, accepted_local(self, c)
end

-- datagrams ------------------------------------------------------------------

-- send(buf, [len], [host, port | sa], [expires], [flags]); without an
-- address the socket must be connected.
function dgram:send(buf, len, host, port, expires, flags)
  check_self(self, 'send')
  len = check_wbuf(buf, len, 'send')
  if host == nil then return send(self, buf, len, expires, flags, 'send') end
  if addr.is_sa(host) or addr.is_ai(host) then
    flags, expires, port = expires, port, nil
  end
  check_expires(expires, 'send', 5)
  local fl = bor(msgflags(flags, 'send', 6), MSG_NOSIGNAL)
  busy(self._wrec, 'send', 'writing')
  local dl = deadline(self, expires)
  local target, err, code = addr.resolve(self, host, port, 'send', 3, false, dl)
  if not target then return nil, err, code end
  return addr.each(target, function(p, alen) return io.sendto(self, buf, len, fl, p, alen, dl or false) end)
end
dgram.sendto = dgram.send

-- recvfrom(buf, len, sa, [expires], [flags]) -> n; fills the caller's sa
-- with the sender's address (no allocation).
local function recvfrom(self, buf, len, from, expires, flags, fname, argx)
  check_self(self, fname)
  check_rbuf(buf, len, fname)
  if type(from) ~= 'nil' and not addr.is_sa(from) then errors.arg(fname, 3, 'sockaddr expected') end
  check_expires(expires, fname, 3 + argx)
  local fl = msgflags(flags, fname, 4 + argx)
  busy(self._rrec, fname, 'reading')
  return io.recvfrom(self, buf, len, fl, from, expires)
end

-- recv(buf, len, [expires], [flags]) -> n, sender sa (a new sa per call;
-- recvfrom() fills one of yours instead).
function dgram:recvfrom(buf, len, from, expires, flags)
  return recvfrom(self, buf, len, from, expires, flags, 'recvfrom', 1)
end

function dgram:recv(buf, len, expires, flags)
  local from = sa_ct()
  local n, err, code = recvfrom(self, buf, len, from, expires, flags, 'recv', 0)
  if not n then return nil, err, code end
  return n, from
end

function dgram:connect(host, port, expires)
  return connect(self, host, port, expires, 'connect')
end

-- Dissolves a udp:connect() association (connect to AF_UNSPEC).
function dgram:disconnect()
  check_self(self, 'disconnect')
  local s = sa_ct()
  osx.sa_set_family(s, AF.unspec, sizeof(s.ss))
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
  if osx.unix_path_bound(path) then return false end -- bound, maybe not listening yet
  local fd = osx.socket(AF.unix, stype, 0)
  if fd == osx.INVALID_FD then return false end
  local sa = addr.unix(path)
  local refused = sa and C.connect(fd, ffi.cast(sa_ptr, sa), sa.len) ~= 0
    and errors.name(errno()) == 'ECONNREFUSED'
  osx.closesocket(fd)
  if not refused then return false end
  local f = osx.open_read(path)
  if f >= 0 then osx.close_file(f); return false end
  return errno() == osx.ENXIO
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
    if file then self._unlink_path = path end
  end
  return ok, err, code
end

-- cancel, atmark, sendfile ------------------------------------------------------

-- Wakes every thread parked on the socket with nil, 'canceled', 'ECANCELED';
-- unlike close() the socket stays open and usable. Returns how many.
function common:cancel()
  check_open(self, 'cancel')
  return io.cancel(self)
end

-- Is the read position at the out-of-band mark? (sockatmark)
function stream:atmark()
  check_open(self, 'atmark')
  local r = osx.atmark(self.fd)
  if r < 0 then return errors.os(errno()) end
  return r == 1
end

-- sendfile(path | fd, [offset], [len]): sends a file's bytes (the kernel
-- copies them); returns the bytes sent, or nil, err, code, sent.
function stream:sendfile(file, offset, len, expires)
  check_self(self, 'sendfile')
  local fd, own = file, false
  if type(file) == 'string' then
    if file:find('\0', 1, true) then errors.arg('sendfile', 1, 'path contains a NUL byte') end
    fd = osx.open_read(file)
    if fd < 0 then return errors.os(errno()) end
    own = true
  elseif type(file) ~= 'number' or file < 0 or file > 0x7fffffff or file ~= math.floor(file) then
    errors.arg('sendfile', 1, 'file path or descriptor expected')
  end
  offset = offset or 0
  if type(offset) ~= 'number' or offset < 0 then errors.arg('sendfile', 2, 'offset must be >= 0') end
  if type(len) ~= 'nil' and (type(len) ~= 'number' or len < 0) then errors.arg('sendfile', 3, 'length must be >= 0') end
  check_expires(expires, 'sendfile', 4)
  busy(self._wrec, 'sendfile', 'writing')
  local dl = deadline(self, expires)
  local offp = ffi.new('int64_t[1]', offset)
  local sent, r1, r2, r3 = 0, nil, nil, nil
  while not len or sent < len do
    local want = len and math.min(len - sent, 0x40000000) or 0x40000000
    local n = osx.sendfile(self.fd, fd, offp, want)
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
  if own then osx.close_file(fd) end
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
  check_expires(expires, 'connect', 3)
  local ai, err, code = addr.addr(host, port, 'tcp', nil, nil, nil, expires)
  if not ai then return nil, err, code end
  for a in ai:addrs() do
    local s
    s, err, code = create(tcp_mt, 'connect', a.ai_family, SOCK.stream, 0)
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
  local s, err, code = create(tcp_mt, 'listen', fam, SOCK.stream, 0)
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

M.methods = {tcp = tcp_mt.methods, udp = udp_mt.methods, raw = raw_mt.methods,
             unix_stream = unix_stream_mt.methods, unix_dgram = unix_dgram_mt.methods}

function M.is_socket(v)
  local mt = getmetatable(v)
  return mt == tcp_mt or mt == udp_mt or mt == raw_mt or mt == unix_stream_mt or mt == unix_dgram_mt
end

return M
