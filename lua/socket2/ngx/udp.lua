-- socket2/ngx/udp.lua: ngx.socket.udp(), the datagram cosocket, on socket2
-- (lua-nginx-module README, "ngx.socket.udp" to "udpsock:settimeout", and
-- src/ngx_http_lua_socket_udp.c): setpeername fixes the peer (an address
-- and port, or 'unix:/path'), send takes a string or a (nested) array of
-- strings, receive returns one datagram of at most size bytes (65536 by
-- default and at most, as the C code caps it), settimeout is milliseconds.
-- Errors are returned: nil, err ('timeout', 'connection refused' when the
-- peer's port is closed, 'closed' on a closed object).
local ffi = require'ffi'
local socket = require'socket2'
local conf = require'socket2.ngx.conf'
local tcpmod = require'socket2.ngx.tcp'

local type, tonumber, tostring, select, error = type, tonumber, tostring, select, error
local floor, ceil = math.floor, math.ceil
local data_string = tcpmod.data_string

local M = {}
local udp = {}
udp.__index = udp
M.methods = udp

local function check(self, fname)
  if getmetatable(self) ~= udp then
    error(('bad argument #0 to \'%s\' (udp cosocket expected; did you call it with . instead of :?)'):format(fname), 3)
  end
end

local MAX_DGRAM = 65536
local nautobind = 0

local function errstr(err, code)
  if code == 'ECANCELED' then return 'closed' end
  return err
end

-- setpeername(host, port) | setpeername('unix:/path') -> 1 | nil, err
function udp:setpeername(host, port)
  check(self, 'setpeername')
  if type(host) ~= 'string' then
    error(('bad argument #1 to \'setpeername\' (string expected, got %s)'):format(type(host)), 2)
  end
  if self.s then self.s:close(); self.s = false end
  local s, err, code
  if host:sub(1, 5) == 'unix:' then
    s, err, code = socket.unix('dgram')
    if not s then return nil, errstr(err, code) end
    if ffi.os == 'Linux' then -- a name to be answered at (nginx relies on Linux's autobind)
      nautobind = nautobind + 1
      s:bind(('\0socket2-ngx-%d-%d'):format(require'socket2.compat.sys'.getpid(), nautobind))
    end
    local ok
    ok, err, code = s:connect(host:sub(6))
    if not ok then s:close(); return nil, errstr(err, code) end
    self.s = s
    return 1
  end
  local p = tonumber(port)
  if not p then error(('bad argument #2 to \'setpeername\' (number expected, got %s)'):format(type(port)), 2) end
  if not (p >= 0 and p <= 65535) or p ~= floor(p) then return nil, 'bad port number: ' .. tostring(port) end
  if host:find('\0', 1, true) then return nil, host .. ' could not be resolved (3: Host not found)' end
  local ai
  ai, err, code = socket.addr(host, p, 'udp', self.bind_host and (self.bind_host:find(':', 1, true) and 'inet6'
    or 'inet') or nil, nil, nil, socket.clock() + (self.rt or conf.read_timeout / 1000))
  if not ai then
    if code and code:match'^EAI_' then return nil, host .. ' could not be resolved (3: Host not found)' end
    return nil, errstr(err, code)
  end
  s, err, code = socket.udp(ai:family())
  if not s then return nil, errstr(err, code) end
  local ok = true
  if self.bind_host then ok, err, code = s:bind(self.bind_host, 0) end
  if ok then ok, err, code = s:connect(ai) end
  if not ok then s:close(); return nil, errstr(err, code) end
  self.s = s
  return 1
end

function udp:bind(addr)
  check(self, 'bind')
  if type(addr) ~= 'string' then
    error(('bad argument #1 to \'bind\' (string expected, got %s)'):format(type(addr)), 2)
  end
  self.bind_host = addr
  return 1
end

function udp:send(data)
  check(self, 'send')
  local s = self.s
  if not s then return nil, 'closed' end
  local str = data_string(data, 'send')
  local n, err, code = s:send(str, #str)
  if not n then return nil, errstr(err, code) end
  return 1
end

function udp:receive(size)
  check(self, 'receive')
  local s = self.s
  if not s then return nil, 'closed' end
  local n = MAX_DGRAM
  if size ~= nil then
    n = tonumber(size)
    if not n then error('bad argument #1 to \'receive\' (number expected)', 2) end
    n = floor(n)
    if not (n >= 0) then error('bad argument #1 to \'receive\' (bad size)', 2) end -- luacheck: ignore 581 (NaN fails it too)
    if n > MAX_DGRAM then n = MAX_DGRAM end
  end
  local buf = self.buf
  if not buf or self.bufsize < n then
    buf = ffi.new('uint8_t[?]', math.max(n, 1))
    self.buf, self.bufsize = buf, n
  end
  local got, err, code, cut = s:recvfrom(buf, n, nil, self.rt or conf.read_timeout / 1000)
  -- a datagram longer than size: its first size bytes, as recv(2) gives them
  if not got and code == 'EMSGSIZE' and cut then got = cut end
  if not got then return nil, errstr(err, code) end
  return ffi.string(buf, got)
end

function udp:settimeout(...)
  check(self, 'settimeout')
  if select('#', ...) ~= 1 then
    error(('ngx.socket settimeout: expecting 2 arguments (including the object) but seen %d')
      :format(select('#', ...) + 1), 2)
  end
  local t = tonumber((...)) or 0
  t = t >= 0 and floor(t) or ceil(t)
  if t < 0 or t >= 2147483648 then error('bad timeout value', 2) end
  self.rt = t > 0 and t / 1000 or false
end

function udp:close()
  check(self, 'close')
  if not self.s then return nil, 'closed' end
  self.s:close()
  self.s = false
  return 1
end

function M.new()
  return setmetatable({s = false, rt = false, buf = false, bufsize = 0, bind_host = false}, udp)
end

return M
