-- socket2/options.lua: socket options by readable name (s:getopt, s:setopt).
-- What value an option takes is the same on every OS (OPT_KIND); its level
-- and number come from the OS file (sys.SOCKOPT).
local ffi = require'ffi'
local sys = require'socket2.os'
local addr = require'socket2.addr'
local errors = require'socket2.errors'
local args = require'socket2.args'

local C, errno, sizeof = sys.C, sys.errno, ffi.sizeof
local SOCK, AF = sys.SOCK, sys.AF
local lenp = ffi.new'socklen_t[1]'
local optval = ffi.new'int[1]'
local lingerval = ffi.new'struct linger'

local M = {}

-- SO_TYPE's answer by name ('stream' for a unix stream socket)
local unix_type_name = {[SOCK.stream] = 'stream', [SOCK.dgram] = 'dgram', [SOCK.seqpacket] = 'seqpacket'}
local function type_name(s, stype)
  if s._family == AF.unix then return unix_type_name[stype] end
  return addr.type_name[stype]
end
M.type_name = type_name

-- Socket options by name: what value each takes, on every OS (the OS file
-- has each one's level and number: sys.SOCKOPT). An option an OS lacks is
-- an unknown name there.
local OPT_KIND = {
  broadcast = 'bool', debug = 'bool', dontroute = 'bool', keepalive = 'bool', oobinline = 'bool',
  reuseaddr = 'bool', reuseport = 'bool', nodelay = 'bool', cork = 'bool', quickack = 'bool',
  multicast_loop = 'bool', v6only = 'bool',
  rcvbuf = 'int', rcvlowat = 'int', sndbuf = 'int', sndlowat = 'int', maxseg = 'int',
  keepidle = 'int', keepintvl = 'int', keepcnt = 'int', fastopen = 'int', ttl = 'int', tos = 'int',
  multicast_ttl = 'int', unicast_hops = 'int', multicast_hops = 'int',
  linger = 'linger',                                          -- whole seconds, or false
  acceptconn = 'bool', error = 'error', type = 'type',        -- read-only
}
local OPT_READ_ONLY = {acceptconn = true, error = true, type = true}

-- level, number, kind of an option name
local function opt_def(name, fname)
  local o = sys.SOCKOPT[name]
  if not o then errors.arg(fname, 1, ('unknown option \'%s\''):format(tostring(name))) end
  return o[1], o[2], OPT_KIND[name]
end

function M.getopt(self, name)
  args.open(self, 'getopt')
  local level, optname, kind = opt_def(name, 'getopt')
  local p = kind == 'linger' and lingerval or optval
  lenp[0] = kind == 'linger' and sizeof(lingerval) or sizeof(optval)
  optval[0] = 0
  if C.getsockopt(self.fd, level, optname, p, lenp) ~= 0 then return errors.os(errno()) end
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

function M.setopt(self, name, v)
  args.open(self, 'setopt')
  local level, optname, kind = opt_def(name, 'setopt')
  if OPT_READ_ONLY[name] then errors.arg('setopt', 1, ('option \'%s\' is read-only'):format(name)) end
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
  if C.setsockopt(self.fd, level, optname, p, len) ~= 0 then return errors.os(errno()) end
  return true
end

return M
