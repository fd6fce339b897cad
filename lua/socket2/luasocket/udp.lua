-- socket2/luasocket/udp.lua: LuaSocket's udp objects (socket.udp, udp4,
-- udp6) on socket2, after LuaSocket 3.1.0's docs/udp.html and src/udp.c:
-- an unconnected object (sendto, receivefrom) becomes connected with
-- setpeername(address, port) (send, receive) and unconnected again with
-- setpeername('*'). receive(size) returns one datagram (8192 bytes by
-- default, _DATAGRAMSIZE); an ICMP port-unreachable of a connected peer
-- is 'connection refused'. Timeouts as for tcp objects.
local ffi = require'ffi'
local socket = require'socket2'
local U = require'socket2.luasocket.util'
local tcpmod = require'socket2.luasocket.tcp'

local type, tostring, tonumber, error = type, tostring, tonumber, error
local floor = math.floor
local msg, deadline, check = U.msg, U.deadline, U.check

local M = {}
local methods = {}
local mt = {__index = methods}
M.methods = methods
M.DATAGRAMSIZE = 8192

local ids = 0
function mt.__tostring(o) return ('%s: 0x%08x'):format(U.classname(o), o.id) end

function M.new(family)
  ids = ids + 1
  local o = setmetatable({kind = 'udp', family = family, cls = 'unconnected', s = false, id = ids,
    block = -1, total = -1, opts = false, buf = false, bufsize = 0}, mt)
  U.objects[o] = true
  if family then
    local s, err, code = socket.udp(family)
    if not s then return nil, msg(err, code) end
    if family == 'inet6' then s:setopt('v6only', true) end
    o.s = s
  end
  return o
end

local OPTS = {dontroute = {'dontroute', 'bool'}, broadcast = {'broadcast', 'bool'},
  reuseaddr = {'reuseaddr', 'bool'}, reuseport = {'reuseport', 'bool'},
  ['ip-multicast-ttl'] = {'multicast_ttl', 'int'}, ['ip-multicast-loop'] = {'multicast_loop', 'bool'},
  ['ipv6-unicast-hops'] = {'unicast_hops', 'int'}, ['ipv6-multicast-hops'] = {'multicast_hops', 'int'},
  ['ipv6-multicast-loop'] = {'multicast_loop', 'bool'}, ['ipv6-v6only'] = {'v6only', 'bool'},
  ['recv-buffer-size'] = {'rcvbuf', 'int'}, ['send-buffer-size'] = {'sndbuf', 'int'}}

local adopt = U.option_methods(methods, OPTS)

local function ensure(self, family)
  if self.s then return self.s end
  local s, err, code = socket.udp(family or 'inet')
  if not s then return nil, msg(err, code) end
  self.family = family or 'inet'
  adopt(self, s)
  return s
end

local function family_of(address)
  if address:find(':', 1, true) then return 'inet6' end
  return 'inet'
end

function methods:setpeername(address, port)
  check(self, 'setpeername')
  if type(address) ~= 'string' then
    error(('bad argument #1 to \'setpeername\' (string expected, got %s)'):format(type(address)), 2)
  end
  if address == '*' then
    if self.s then self.s:disconnect() end
    self.cls = 'unconnected'
    return 1
  end
  local p = tcpmod.port_number(port, 'setpeername', 2)
  if not p then return nil, 'service not supported for socket type' end
  local good, why = U.hostport(address, p)
  if not good then return nil, why end
  local s, err, code
  if not self.s then
    local fam = family_of(address)
    if not address:find'^[%d.:]+$' then
      local ai = socket.addr(address, p, 'udp', nil, nil, nil, socket.clock() + 60)
      if ai then fam = ai:family() end
    end
    s, err = ensure(self, fam)
    if not s then return nil, err end
  end
  local ok
  ok, err, code = self.s:connect(address, p, deadline(self))
  if not ok then return nil, msg(err, code) end
  self.cls = 'connected'
  return 1
end

function methods:setsockname(address, port)
  check(self, 'setsockname', 'unconnected')
  if type(address) ~= 'string' then
    error(('bad argument #1 to \'setsockname\' (string expected, got %s)'):format(type(address)), 2)
  end
  local p = tcpmod.port_number(port, 'setsockname', 2)
  if not p then return nil, 'service not supported for socket type' end
  local good, why = U.hostport(address, p)
  if not good then return nil, why end
  if address == '*' then address = nil end
  local s, err = ensure(self, address and family_of(address) or 'inet')
  if not s then return nil, err end
  local ok, code
  ok, err, code = s:bind(address, p)
  if not ok then return nil, msg(err, code) end
  return 1
end

local function data_arg(data, fname)
  if type(data) == 'number' then return tostring(data) end
  if type(data) ~= 'string' then
    error(('bad argument #1 to \'%s\' (string expected, got %s)'):format(fname, type(data)), 3)
  end
  return data
end

function methods:send(data)
  check(self, 'send', 'connected')
  data = data_arg(data, 'send')
  if not self.s then return nil, 'closed' end
  local n, err, code = self.s:send(data, #data, nil, nil, deadline(self))
  if not n then return nil, msg(err, code) end
  return n
end

function methods:sendto(data, ip, port)
  check(self, 'sendto', 'unconnected')
  data = data_arg(data, 'sendto')
  if type(ip) ~= 'string' then error(('bad argument #2 to \'sendto\' (string expected, got %s)'):format(type(ip)), 2) end
  local p = tonumber(port)
  if not p then error(('bad argument #3 to \'sendto\' (number expected, got %s)'):format(type(port)), 2) end
  local good, why = U.hostport(ip, p)
  if not good then return nil, why end
  local s, err = ensure(self, family_of(ip))
  if not s then return nil, err end
  local n, code
  n, err, code = s:send(data, #data, ip, p, deadline(self))
  if not n then
    if code == 'EAI_NONAME' then return nil, 'host or service not provided, or not known' end
    return nil, msg(err, code)
  end
  return n
end

local function recvbuf(self, size)
  size = size and floor(tonumber(size) or M.DATAGRAMSIZE) or M.DATAGRAMSIZE
  if not (size >= 1) then size = 1 end -- luacheck: ignore 581 (NaN fails it too)
  if size > 65536 then size = 65536 end -- (a datagram is never larger)
  if self.bufsize < size then
    self.buf, self.bufsize = ffi.new('uint8_t[?]', size), size
  end
  return self.buf, size
end

local function recv_error(err, code)
  if code == 'ECONNREFUSED' then return 'connection refused' end
  return msg(err, code)
end

function methods:receive(size)
  check(self, 'receive')
  local s = self.s
  if not s then return nil, 'closed' end
  local buf, n = recvbuf(self, size)
  local got, err, code, cut = s:recvfrom(buf, n, nil, deadline(self))
  -- a datagram longer than size: its first size bytes (LuaSocket's recv)
  if not got and code == 'EMSGSIZE' and cut then got = cut end
  if not got then return nil, recv_error(err, code) end
  return ffi.string(buf, got)
end

function methods:receivefrom(size)
  check(self, 'receivefrom', 'unconnected')
  local s = self.s
  if not s then return nil, 'closed' end
  local buf, n = recvbuf(self, size)
  local got, from, code, cut, sa = s:recv(buf, n, deadline(self))
  if not got and code == 'EMSGSIZE' and cut and sa then got, from = cut, sa end
  if not got then return nil, recv_error(from, code) end
  return ffi.string(buf, got), from:ip(), from:port()
end

function methods:settimeout(t, mode)
  check(self, 'settimeout')
  return U.settimeout(self, t, mode)
end
function methods:gettimeout() return U.gettimeout(self) end -- (checks self)

function methods:close()
  check(self, 'close')
  if self.s then self.s:close(); self.s = false end
  return 1
end

function methods:getpeername()
  check(self, 'getpeername', 'connected')
  if not self.s then return nil, 'closed' end
  local sa, err, code = self.s:getpeername()
  if not sa then return nil, msg(err, code) end
  return sa:ip(), sa:port(), sa:family()
end

function methods:getsockname()
  check(self, 'getsockname')
  if not self.s then return nil, 'closed' end
  local sa, err, code = self.s:getsockname()
  if not sa then return nil, msg(err, code) end
  return sa:ip(), tostring(sa:port()), sa:family()
end

U.fd_methods(methods)

function methods:dirty() check(self, 'dirty'); return false end

return M
