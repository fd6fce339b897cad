-- socket2/addr.lua: addresses. Three kinds of objects:
--   sa  -- a socket address owned by Lua (struct s2_sockaddr: storage + len),
--          returned by accept, getpeername, udp recv, socket.sockaddr();
--   ai  -- a getaddrinfo list (struct addrinfo*), freed by the GC or ai:free();
--   raw `struct sockaddr*` (ai.addr) has the same read methods as sa.
-- Name lookups run on the shim's worker threads (never stalling the loop)
-- unless the host is a numeric address, which is parsed on the spot.
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.os'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'
local args = require'socket2.args'

local C, S2 = sys.C, shim.lib
local AF, SOCK, IPPROTO, AI = sys.AF, sys.SOCK, sys.IPPROTO, sys.AI

ffi.cdef[[
typedef struct s2_sockaddr { struct sockaddr_storage ss; socklen_t len; } s2_sockaddr;
]]

local M = {}

local function reverse(t)
  local r = {}
  for k, v in pairs(t) do if r[v] == nil or #k < #r[v] then r[v] = k end end
  return r
end
local family_name = {[AF.inet] = 'inet', [AF.inet6] = 'inet6', [AF.unix] = 'unix', [AF.unspec] = 'unspec'}
local type_name = {[SOCK.tcp] = 'tcp', [SOCK.udp] = 'udp', [SOCK.raw] = 'raw', [SOCK.seqpacket] = 'seqpacket'}
local proto_name = reverse(IPPROTO)
M.family_name, M.type_name, M.proto_name = family_name, type_name, proto_name

local function floor_int(v) return v >= 0 and math.floor(v) or math.ceil(v) end

-- name or number -> number, for the three socket() arguments
local function lookup_const(t, v, fname, argn, what)
  if type(v) == 'nil' then return nil end -- (a NULL cdata == nil, but is no name)
  local n = t[v]
  if n then return n end
  if type(v) == 'number' and v == floor_int(v) then return v end
  errors.arg(fname, argn, ('unknown %s \'%s\''):format(what, tostring(v)))
end

function M.family(v, fname, argn) return lookup_const(AF, v, fname, argn, 'address family') end
function M.socktype(v, fname, argn) return lookup_const(SOCK, v, fname, argn, 'socket type') end
function M.protocol(v, fname, argn) return lookup_const(IPPROTO, v, fname, argn, 'protocol') end

-- flags by name: a name, a list of names or a number -> bits
local function name_flags(names, v, fname, argn, what)
  if v == nil then return 0 end
  if type(v) == 'number' then return v end
  if type(v) == 'string' then v = {v} end
  if type(v) ~= 'table' then errors.arg(fname, argn, 'flags must be a name, a list of names or a number') end
  local f = 0
  for _, name in ipairs(v) do
    local x = names[name]
    if not x then errors.arg(fname, argn, ('unknown %s \'%s\''):format(what, tostring(name))) end
    f = bit.bor(f, x)
  end
  return f
end
local function ai_flags(v, fname, argn) return name_flags(AI, v, fname, argn, 'lookup flag') end

-- port: integer 0..65535 or a string of digits -> number
function M.port(port, fname, argn)
  if port == nil then return 0 end
  local n = tonumber(port)
  if type(port) == 'string' and not port:find'^%d+$' then n = nil end
  if not n or n ~= math.floor(n) or n < 0 or n > 65535 then
    errors.arg(fname, argn, ('port must be an integer 0..65535, got %s'):format(
      type(port) == 'string' and ("'" .. port .. "'") or tostring(port)))
  end
  return n
end

local function check_host(host, fname, argn)
  if type(host) ~= 'string' then
    errors.arg(fname, argn, 'host must be a string, nil, an address or a sockaddr, got ' .. type(host))
  end
  if host:find('\0', 1, true) then errors.arg(fname, argn, 'host contains a NUL byte') end
end

-- sockaddr objects ----------------------------------------------------------

local sa_ct = ffi.typeof's2_sockaddr'
local in_ptr = ffi.typeof'struct sockaddr_in*'
local in6_ptr = ffi.typeof'struct sockaddr_in6*'
local un_ptr = ffi.typeof'struct sockaddr_un*'
local sa_ptr = ffi.typeof'struct sockaddr*'
local SUN_OFF = ffi.offsetof('struct sockaddr_un', 'sun_path')
local ipbuf = ffi.new'char[64]'

local function ntohs(x) return bit.rshift(bit.bswap(x), 16) end
local function ntohl(x) return tonumber(ffi.cast('uint32_t', bit.bswap(x))) end
-- the public ones check their argument (bit.bswap would name itself)
local function checked(fname, f)
  return function(x)
    if type(x) ~= 'number' then errors.arg(fname, 1, 'number expected, got ' .. type(x)) end
    return f(x)
  end
end
M.ntohs, M.htons = checked('ntohs', ntohs), checked('htons', ntohs)
M.ntohl, M.htonl = checked('ntohl', ntohl), checked('htonl', ntohl)

-- read methods shared by sa objects and raw struct sockaddr pointers;
-- p is a struct sockaddr*, len the address length (nil: unknown)
local function p_family(p) return sys.sa_family(p) end

local function p_port(p)
  local f = p_family(p)
  if f == AF.inet then return ntohs(ffi.cast(in_ptr, p).sin_port)
  elseif f == AF.inet6 then return ntohs(ffi.cast(in6_ptr, p).sin6_port) end
  return nil
end

local function p_ip(p, len)
  local f = p_family(p)
  if f == AF.inet then
    return ffi.string(C.inet_ntop(f, ffi.cast(in_ptr, p).sin_addr, ipbuf, 64))
  elseif f == AF.inet6 then
    return ffi.string(C.inet_ntop(f, ffi.cast(in6_ptr, p).sin6_addr, ipbuf, 64))
  elseif f == AF.unix then
    local path = ffi.cast(un_ptr, p).sun_path
    if len then
      local n = len - SUN_OFF
      if n <= 0 then return '' end -- unnamed
      if n > sys.SUN_PATH_MAX then n = sys.SUN_PATH_MAX end -- never past sun_path
      if path[0] == 0 then return ffi.string(path, n) end -- abstract: keep the '\0'
      local s = ffi.string(path, n)
      return (s:gsub('%z.*', ''))
    end
    return ffi.string(path)
  end
  return nil
end

local function p_tostring(p, len)
  local f = p_family(p)
  if f == AF.inet then return p_ip(p) .. ':' .. p_port(p)
  elseif f == AF.inet6 then return '[' .. p_ip(p) .. ']:' .. p_port(p)
  elseif f == AF.unix then
    local path = p_ip(p, len)
    if path:sub(1, 1) == '\0' then return '@' .. path:sub(2) end
    return path
  end
  return ('sockaddr(family %d)'):format(tonumber(f))
end

local sa = {}
sa.__index = sa
function sa:family() return family_name[tonumber(p_family(ffi.cast(sa_ptr, self)))] end
function sa:port() return p_port(ffi.cast(sa_ptr, self)) end
function sa:ip() return p_ip(ffi.cast(sa_ptr, self), self.len) end
sa.path = sa.ip
function sa:tostring() return p_tostring(ffi.cast(sa_ptr, self), self.len) end
function sa:addr()
  local f = p_family(ffi.cast(sa_ptr, self))
  return ffi.cast(f == AF.inet and in_ptr or f == AF.inet6 and in6_ptr or f == AF.unix and un_ptr or sa_ptr, self)
end
function sa:ptr() return ffi.cast(sa_ptr, self) end
function sa:copy() local c = sa_ct(); ffi.copy(c, self, ffi.sizeof(sa_ct)); return c end
sa.__tostring = sa.tostring
local SS_SIZE = ffi.sizeof'struct sockaddr_storage'
function sa.__eq(a, b)
  if not (ffi.istype(sa_ct, a) and ffi.istype(sa_ct, b)) or a.len ~= b.len then return false end
  -- a len beyond the storage is never read past it; socklen_t is signed on
  -- Windows, where a len set to 0xffffffff reads back as -1
  local n = math.max(0, math.min(a.len, SS_SIZE))
  return ffi.string(a, n) == ffi.string(b, n)
end
ffi.metatype(sa_ct, sa)
M.sa_ct = sa_ct

local rawsa = {}
rawsa.__index = rawsa
function rawsa:family() return family_name[tonumber(p_family(self))] end
function rawsa:port() return p_port(self) end
function rawsa:ip() return p_ip(self) end
function rawsa:tostring() return p_tostring(self) end
function rawsa:addr()
  local f = p_family(self)
  return ffi.cast(f == AF.inet and in_ptr or f == AF.inet6 and in6_ptr or f == AF.unix and un_ptr or sa_ptr, self)
end
rawsa.__tostring = rawsa.tostring
ffi.metatype('struct sockaddr', rawsa)

function M.is_sa(v) return ffi.istype(sa_ct, v) end

-- A new sa copied from a struct sockaddr* of length len.
function M.sa_from(p, len)
  local s = sa_ct()
  ffi.copy(s, p, len)
  s.len = len
  return s
end

-- Fills sa (or a new one) with a numeric ip + port; nil when ip is not a
-- numeric address of that family.
local function numeric(s, family, ip, port)
  if family == AF.inet then
    local a = ffi.cast(in_ptr, s)
    if C.inet_pton(AF.inet, ip, a.sin_addr) ~= 1 then return nil end
    sys.sa_set_family(s, AF.inet, ffi.sizeof'struct sockaddr_in')
    a.sin_port = ntohs(port)
    s.len = ffi.sizeof'struct sockaddr_in'
    return s
  elseif family == AF.inet6 then
    local a = ffi.cast(in6_ptr, s)
    local scope = ip:match'%%(.*)$'
    if scope then ip = ip:sub(1, -#scope - 2) end
    if C.inet_pton(AF.inet6, ip, a.sin6_addr) ~= 1 then return nil end
    sys.sa_set_family(s, AF.inet6, ffi.sizeof'struct sockaddr_in6')
    a.sin6_port = ntohs(port)
    a.sin6_flowinfo = 0
    local scope_id = 0
    if scope then
      scope_id = tonumber(scope) or tonumber(sys.if_nametoindex(scope))
      if scope_id == 0 then return nil end -- no such interface
    end
    a.sin6_scope_id = scope_id
    s.len = ffi.sizeof'struct sockaddr_in6'
    return s
  end
end

-- A unix address: path, or '\0name' for a Linux abstract name.
function M.unix(path, fname, argn)
  fname, argn = fname or 'sockaddr', argn or 1
  if type(path) ~= 'string' then errors.arg(fname, argn, 'unix path must be a string') end
  local abstract = path:sub(1, 1) == '\0'
  if abstract and not sys.ABSTRACT_UNIX then
    return errors.fail('EAFNOSUPPORT', 'abstract unix names are not supported on this OS')
  end
  if not abstract and path:find('\0', 1, true) then errors.arg(fname, argn, 'unix path contains a NUL byte') end
  if #path == 0 then errors.arg(fname, argn, 'unix path is empty') end
  local max = abstract and sys.SUN_PATH_MAX or sys.SUN_PATH_MAX - 1
  if #path > max then
    return errors.fail('ENAMETOOLONG', ('unix socket path too long (%d bytes, at most %d)'):format(#path, max))
  end
  local s = sa_ct()
  local len = SUN_OFF + #path + (abstract and 0 or 1)
  sys.sa_set_family(s, AF.unix, len)
  ffi.copy(ffi.cast(un_ptr, s).sun_path, path, #path)
  s.len = len
  return s
end

-- socket.sockaddr(ip, port) / sockaddr(unix_path): a numeric sa.
function M.sockaddr(ip, port)
  if port == nil and type(ip) == 'string' then
    -- no port: a numeric address (port 0), else a unix path ('cafe', 'db')
    local s = sa_ct()
    local num = ip:find'^[%x:.%%%w]+$' and (numeric(s, AF.inet, ip, 0) or numeric(s, AF.inet6, ip, 0))
    if num then return num end
    return M.unix(ip, 'sockaddr', 1)
  end
  check_host(ip, 'sockaddr', 1)
  port = M.port(port, 'sockaddr', 2)
  local s = sa_ct()
  local r = numeric(s, AF.inet, ip, port) or numeric(s, AF.inet6, ip, port)
  if not r then return errors.fail('EINVAL', 'not a numeric IP address: ' .. ip) end
  return r
end

-- ai lists -------------------------------------------------------------------

-- An ai list belongs to its first entry (the head, which the GC frees).
-- Entries from :next() map to their head (which keeps the list alive);
-- heads made here are 'live' until ai:free() makes them 'freed': a freed
-- list raises a clear error when used, instead of reading freed memory.
-- (Kept in the registry: the ctype's metatable is bound once per process,
-- to the first copy of this module, and a test runner such as busted may
-- load the module again.)
local reg = debug.getregistry()
local lists = reg['socket2.ai_lists'] or {entries = setmetatable({}, {__mode = 'k'}),
  heads = setmetatable({}, {__mode = 'k'})}
reg['socket2.ai_lists'] = lists
local ai_heads = lists.entries -- entry -> head
local heads = lists.heads      -- head -> 'live' | 'freed'
local function new_list(p) heads[p] = 'live'; return p end

-- An ai passed to socket2 must not have been freed.
local function check_live(a, fname)
  if heads[ai_heads[a] or a] == 'freed' then
    errors.misuse(fname, 'the address list was freed (ai:free())')
  end
end
M.check_live = check_live

local ai = {}
ai.__index = function(self, k)
  if k == 'free' then return ai.free end -- (freeing twice is allowed)
  check_live(self, 'ai:' .. tostring(k))
  if k == 'addr' then return self.ai_addr end
  if k == 'addrlen' then return self.ai_addrlen end
  return ai[k]
end
-- Frees the list now (else the GC does); again: nothing.
function ai:free()
  if ai_heads[self] then
    errors.misuse('ai:free', 'this is an entry of an address list: free the list (what socket.addr returned)')
  end
  local st = heads[self]
  if st == 'freed' then return end
  if st ~= 'live' then errors.misuse('ai:free', 'not an address list made by socket.addr') end
  heads[self] = 'freed'
  ffi.gc(self, nil)
  C.freeaddrinfo(self)
end
function ai:next(_)
  local n = self.ai_next
  if n == nil then return nil end
  ai_heads[n] = ai_heads[self] or self
  return n
end
function ai:addrs()
  local cur
  return function()
    if cur == nil then cur = self else cur = cur:next() end
    return cur
  end
end
function ai:type() return type_name[self.ai_socktype] end
function ai:family() return family_name[self.ai_family] end
-- protocol 0 on an inet entry (Windows' getaddrinfo leaves it 0) is the
-- one its socket type implies
local implied = {[SOCK.stream] = IPPROTO.tcp, [SOCK.dgram] = IPPROTO.udp}
function ai:protocol()
  local p = self.ai_protocol
  if p == 0 and self.ai_family ~= AF.unix then p = implied[self.ai_socktype] or 0 end
  return proto_name[p]
end
function ai:name() return self.ai_canonname ~= nil and ffi.string(self.ai_canonname) or nil end
function ai:tostring() return p_tostring(self.ai_addr, self.ai_addrlen) end
function ai:sockaddr() return M.sa_from(self.ai_addr, self.ai_addrlen) end
ai.__tostring = function(self)
  if heads[ai_heads[self] or self] == 'freed' then return 'socket2 address list (freed)' end
  return ai.tostring(self)
end
ffi.metatype('struct addrinfo', ai)
local ai_ptr = ffi.typeof'struct addrinfo*'

function M.is_ai(v) return ffi.istype(ai_ptr, v) end

-- Name lookups on the shim's worker threads: start(id, gen, out) begins
-- one whose end arrives as an event for slot id; the caller parks until
-- then, or until expires (an absolute clock() time or nil): a slow lookup
-- parks only its caller. Returns the request (take it with s2_*_take),
-- or nil, err, code. The slot holds a wait record whose _on_event wakes
-- the caller (see sched.poll); killing the caller abandons the request.
local lookup_out = ffi.new's2_lookup*[1]'
local function on_lookup_event(rec, _, result) sched.wake(rec, result) end
local function on_lookup_kill(rec)
  S2.s2_lookup_cancel(rec.req)
  sched.free_slot(rec.id)
end

local function off_thread(expires, start, ...)
  local rec = sched.new_rec()
  rec._on_event, rec.on_kill, rec.req, rec.id = on_lookup_event, on_lookup_kill, false, 0
  local id, gen = sched.alloc_slot(rec)
  rec.id = id
  local rc = start(sched.loop(), id, gen, lookup_out, ...)
  if rc < 0 then sched.free_slot(id); return errors.s2(rc) end
  local req = lookup_out[0]
  rec.req = req
  local res, err, code = sched.park(rec, expires)
  sched.free_slot(id)
  if res == nil then
    S2.s2_lookup_cancel(req)
    return nil, err, code
  end
  return req
end

local function start_addrinfo(loop, id, gen, out, host, service, family, stype, protocol, flags)
  return S2.s2_lookup_start(loop, host, service, family, stype, protocol, flags, id, gen, out)
end

-- getaddrinfo -> an ai list, never on the loop's thread unless it cannot
-- block (numeric host and port).
local take_out = ffi.new'void*[1]'
local function lookup(host, service, family, stype, protocol, flags, expires)
  local hints
  local numeric_host = host == nil or host:find'^[%d.]+$' or host:find'^[%x:.]*:[%x:.%%%w]*$'
  if numeric_host and (service == nil or service:find'^%d+$') then
    hints = ffi.new'struct addrinfo'
    hints.ai_family, hints.ai_socktype, hints.ai_protocol = family, stype, protocol
    hints.ai_flags = bit.bor(flags, AI.numerichost, AI.numericserv)
    local out = ffi.new'struct addrinfo*[1]'
    local rc = C.getaddrinfo(host, service, hints, out)
    if rc == 0 then return new_list(ffi.gc(out[0], C.freeaddrinfo)) end
    -- digits and dots that do not parse are no name to look up: never ask DNS
    if host and host:find'^[%d.]+$' then
      return errors.fail('EAI_NONAME', 'not a numeric address: ' .. host)
    end
  end
  local req, err, code = off_thread(expires, start_addrinfo, host, service, family, stype, protocol, flags)
  if not req then return nil, err, code end
  local rc = S2.s2_lookup_take(req, take_out)
  if rc < 0 then
    local _, msg, name = errors.s2(rc)
    return nil, msg .. (host and (': ' .. host) or ''), name
  end
  return new_list(ffi.gc(ffi.cast(ai_ptr, take_out[0]), C.freeaddrinfo))
end

-- socket.addr(host, port, [type], [family], [protocol], [flags], [expires])
--   host: nil or '*' (any address, passive), 'localhost', a name or a
--   numeric address; an ai is passed through (returns ai, true).
function M.addr(host, port, stype, family, protocol, flags, expires)
  if type(host) == 'table' then
    local t = host
    host, port, stype, family, protocol, flags = t.host, t.port, t.type or t.socket_type,
      t.family, t.protocol, t.flags
  end
  if M.is_ai(host) then check_live(host, 'addr'); return host, true end
  local fl = ai_flags(flags, 'addr', 6)
  if host == nil or host == '*' then
    host = nil
    fl = bit.bor(fl, AI.passive)
  else
    check_host(host, 'addr', 1)
  end
  -- a port, or a service name ('http': /etc/services) since numericserv is offered
  local service
  if type(port) == 'string' and port:find'^[%a][%w%-_.+]*$' then service = port
  else service = tostring(M.port(port, 'addr', 2)) end
  local st = M.socktype(stype or 'tcp', 'addr', 3)
  local fam = M.family(family or 'unspec', 'addr', 4)
  if fam == AF.unix then errors.arg('addr', 4, 'use socket.sockaddr(path) for unix addresses') end
  local proto = M.protocol(protocol or 0, 'addr', 5)
  args.expires(expires, 'addr', 7)
  return lookup(host, service, fam, st, proto, fl, args.when(expires, nil))
end

-- The size of the sockaddr a raw struct sockaddr* points at, by its
-- family: only that much may be read (an ai.addr is exactly that big).
local raw_sa_size = {[AF.inet] = ffi.sizeof'struct sockaddr_in', [AF.inet6] = ffi.sizeof'struct sockaddr_in6',
  [AF.unix] = ffi.sizeof'struct sockaddr_un'}
local function raw_sa_len(p) return raw_sa_size[tonumber(sys.sa_family(p))] end

-- Resolve (host, port) for a socket of family/type: an sa or ai to use.
-- Numeric hosts fill the socket's scratch sa without any allocation.
function M.resolve(s, host, port, fname, argn, passive, expires)
  if M.is_sa(host) then return host end
  if M.is_ai(host) then check_live(host, fname); return host end
  if ffi.istype(sa_ptr, host) then
    local len = raw_sa_len(host)
    if not len then return errors.fail('EAFNOSUPPORT') end
    return M.sa_from(host, len)
  end
  local fam = s._family
  if fam == AF.unix then
    if type(host) ~= 'string' then errors.arg(fname, argn, 'unix path expected') end
    return M.unix(host, fname, argn)
  end
  if host == nil or host == '*' then
    host = fam == AF.inet6 and '::' or '0.0.0.0'
  else
    check_host(host, fname, argn)
  end
  port = M.port(port, fname, argn + 1)
  local scratch = s._sa
  if not scratch then scratch = sa_ct(); s._sa = scratch end
  local r = numeric(scratch, fam, host, port)
  if r then return r end
  -- a numeric address of the other family: say so (a lookup would only
  -- fail obscurely)
  local other = fam == AF.inet and AF.inet6 or AF.inet
  if numeric(scratch, other, host, port) then
    local v, sv = 'IPv4', 'IPv6'
    if fam == AF.inet then v, sv = sv, v end
    return errors.fail('EAFNOSUPPORT', ("%s is an %s address but this socket is %s (make the socket with family '%s')")
      :format(host, v, sv, fam == AF.inet and 'inet6' or 'inet'))
  end
  if host:find'^[%d.]+$' then
    return errors.fail('EAI_NONAME', 'not a numeric address: ' .. host)
  end
  return lookup(host, tostring(port), fam, s._type, s._protocol or 0,
    passive and AI.passive or 0, expires)
end

-- For each address an sa/ai names: fn(struct sockaddr*, len, a, b, c, d, e)
-- until it returns a non-nil first value; returns that, or the last
-- failure. (The extra arguments spare callers a closure per call.)
function M.each(target, fn, a, b, c, d, e)
  if M.is_sa(target) then return fn(ffi.cast(sa_ptr, target), target.len, a, b, c, d, e) end
  local r1, r2, r3
  local cur = target
  while cur ~= nil do
    r1, r2, r3 = fn(cur.ai_addr, cur.ai_addrlen, a, b, c, d, e)
    if r1 ~= nil then return r1, r2, r3 end
    cur = cur.ai_next
  end
  if r2 == nil then return errors.fail('EADDRNOTAVAIL', 'no address to use') end
  return r1, r2, r3
end

-- socket.getaddrinfo(host, [service], [family], [type], [protocol], [flags])
-- -> a list of {addr = ip, port =, family =, type =, protocol =, canonname =,
-- sockaddr = sa}; service may be a port or a service name ('http').
function M.getaddrinfo(host, service, family, stype, protocol, flags, expires)
  if host ~= nil then check_host(host, 'getaddrinfo', 1) end
  if service ~= nil then
    if type(service) == 'number' then service = tostring(M.port(service, 'getaddrinfo', 2))
    elseif type(service) ~= 'string' or service:find('\0', 1, true) then
      errors.arg('getaddrinfo', 2, 'service must be a port number or a service name')
    end
  end
  if host == nil and service == nil then errors.arg('getaddrinfo', 1, 'host or service expected') end
  local fl = ai_flags(flags, 'getaddrinfo', 6)
  args.expires(expires, 'getaddrinfo', 7)
  if host == nil then fl = bit.bor(fl, AI.passive) end
  local list, err, code = lookup(host, service, M.family(family or 'unspec', 'getaddrinfo', 3),
    stype and M.socktype(stype, 'getaddrinfo', 4) or 0, M.protocol(protocol or 0, 'getaddrinfo', 5), fl,
    args.when(expires, nil))
  if not list then return nil, err, code end
  local t = {}
  for a in list:addrs() do
    t[#t + 1] = {addr = p_ip(a.ai_addr, a.ai_addrlen), port = p_port(a.ai_addr), family = a:family(),
      type = a:type(), protocol = a:protocol(), canonname = a:name(), sockaddr = a:sockaddr()}
  end
  list:free()
  return t
end

-- socket.getnameinfo(sa, [flags], [expires]) -> host, service. flags: a
-- name, a list of names (numerichost, numericserv, namereqd, nofqdn,
-- dgram) or the OS's NI_* bits. Numeric answers are made at once; a name
-- is looked up on the shim's worker threads, like getaddrinfo.
local NI_MAXHOST, NI_MAXSERV = 1025, 32
local host_buf, serv_buf = ffi.new('char[?]', NI_MAXHOST), ffi.new('char[?]', NI_MAXSERV)
local NI = sys.NI
local NUMERIC = bit.bor(NI.numerichost, NI.numericserv)

local function start_nameinfo(loop, id, gen, out, p, len, flags)
  return S2.s2_nameinfo_start(loop, p, len, flags, id, gen, out)
end

function M.getnameinfo(s, flags, expires)
  local p, len
  if M.is_sa(s) then p, len = ffi.cast(sa_ptr, s), s.len
  elseif ffi.istype(sa_ptr, s) then
    p, len = s, raw_sa_len(s)
    if not len then return errors.fail('EAI_FAMILY', 'getnameinfo: unknown address family') end
  else errors.arg('getnameinfo', 1, 'sockaddr expected') end
  local fl = name_flags(NI, flags, 'getnameinfo', 2, 'name lookup flag')
  args.expires(expires, 'getnameinfo', 3)
  local rc
  if bit.band(fl, NUMERIC) == NUMERIC then -- nothing to look up: no need to leave the loop
    rc = C.getnameinfo(p, len, host_buf, NI_MAXHOST, serv_buf, NI_MAXSERV, fl)
    if rc ~= 0 then return errors.s2(S2.s2_from_gaierror(rc, sys.errno())) end
  else
    local req, err, code = off_thread(args.when(expires, nil), start_nameinfo, p, len, fl)
    if not req then return nil, err, code end
    rc = S2.s2_nameinfo_take(req, host_buf, NI_MAXHOST, serv_buf, NI_MAXSERV)
    if rc < 0 then return errors.s2(rc) end
  end
  return ffi.string(host_buf), ffi.string(serv_buf)
end

return M
