-- socket2/luasocket/ssl.lua: the part of LuaSec's `ssl` module that
-- LuaSocket-style HTTPS uses (ssl.wrap, ssl.newcontext; the connection's
-- sni, dohandshake, receive, send, settimeout, close, getfd, dirty, info,
-- getpeerverification), on socket2.tls, so that LuaSec's own, unchanged
-- ssl/https.lua (Debian's lua-sec) runs on socket2: a request waits in its
-- socket2 thread only. socket2.luasocket installs it as `ssl` when socket2.tls
-- can run and LuaSec was not loaded already.
--
-- As in LuaSec: params.verify 'peer' verifies the chain against cafile /
-- capath (or the system store) and fails the handshake when it does not
-- verify; there is no host name check (LuaSec has none either); 'none'
-- verifies nothing. certificate/key make a client certificate. What this
-- subset lacks (server mode, ssl.loadcertificate, ...) raises "not
-- supported by socket2's ssl".
local tls = require'socket2.tls'
local rbuf = require'socket2.compat.rbuf'
local U = require'socket2.luasocket.util'
local tcpmod = require'socket2.luasocket.tcp'

local type, error, ipairs = type, error, ipairs

local M = {_VERSION = '1.2.0', _SOCKET2 = true}

local function unsupported(name)
  return function() error(name .. ': not supported by socket2\'s ssl (socket2.luasocket on socket2.tls)', 2) end
end
M.loadcertificate = unsupported('ssl.loadcertificate')

local function has(list, v)
  if type(list) == 'string' then return list == v end
  if type(list) == 'table' then for _, x in ipairs(list) do if x == v then return true end end end
  return false
end

-- ssl.newcontext(params) -> a context (params kept: made into a socket2.tls
-- context at wrap)
function M.newcontext(params)
  if type(params) ~= 'table' then error('bad argument #1 to \'newcontext\' (table expected)', 2) end
  if params.mode ~= 'client' then return nil, 'only client mode is supported by socket2\'s ssl' end
  return {params = params, _ssl_ctx = true}
end

local contexts = setmetatable({}, {__mode = 'k'})
local function context_of(params)
  local ctx = contexts[params]
  if ctx then return ctx end
  local ca = params.cafile or params.capath
  local alpn = params.alpn
  if type(alpn) == 'string' then alpn = {alpn} end
  local err
  ctx, err = tls.context{verify = false, ca = ca, cert = params.certificate, key = params.key,
                         password = type(params.password) == 'string' and params.password or nil, alpn = alpn}
  if not ctx then return nil, err end
  contexts[params] = ctx
  return ctx
end

-- the connection: a LuaSocket client object whose socket is a socket2.tls
-- socket, plus LuaSec's calls
local conn = {}
for k, v in pairs(tcpmod.methods) do conn[k] = v end
local conn_mt = {__index = conn, __tostring = function(o) return ('SSL connection: 0x%08x'):format(o.id) end}

-- ssl.wrap(sock, params | ctx) -> connection (the tcp object gives its
-- descriptor away, as with LuaSec)
function M.wrap(sock, cfg)
  if type(cfg) ~= 'table' then error('bad argument #2 to \'wrap\' (table expected)', 2) end
  local params = cfg._ssl_ctx and cfg.params or cfg
  if params.mode ~= nil and params.mode ~= 'client' then return nil, 'only client mode is supported by socket2\'s ssl' end
  if type(sock) ~= 'table' or not U.objects[sock] or sock.kind ~= 'tcp' then
    error('bad argument #1 to \'wrap\' (a socket2.luasocket tcp object expected)', 2)
  end
  local raw = sock.s
  if not raw then return nil, 'closed' end
  local ctx, err = context_of(params)
  if not ctx then return nil, err end
  sock.s = false -- (LuaSec: sock:setfd(-1))
  local o = tcpmod.new('tcp', sock.family, false, 'client')
  setmetatable(o, conn_mt)
  o.kind, o.raw, o.ctx, o.params, o.host = 'SSL', raw, ctx, params, false
  o.block, o.total = sock.block, sock.total
  return o
end

function conn:sni(host)
  if type(host) == 'string' then self.host = host end
  return true
end

-- dohandshake() -> true, or nil, err
function conn:dohandshake()
  if self.s then return true end
  local raw = self.raw
  if not raw or raw:closed() then return nil, 'closed' end
  raw:setblocking(true)
  local ok, ts, err = pcall(tls.wrap, raw, self.ctx, {host = self.host or nil})
  if not ok then return nil, tostring(ts) end
  if not ts then return nil, err end
  self.raw = false
  self.s = ts
  local done, herr, code = ts:handshake(U.deadline(self))
  if not done then
    self.s = false
    ts:close()
    return nil, U.msg(herr, code)
  end
  if has(self.params.verify, 'peer') then
    local v, vmsg = ts:verify_result()
    if not v then
      self.s = false
      ts:close()
      return nil, tostring(vmsg) -- ('certificate verify failed: ...')
    end
  end
  return true
end

function conn:settimeout(t, mode)
  self.block, self.total = self.block or -1, self.total or -1
  local r = U.settimeout(self, t, mode)
  return r
end

function conn:close()
  local s = self.s or self.raw
  self.s, self.raw = false, false
  if s then s:close() end
  rbuf.reset(self.rb)
  return 1
end

function conn:getfd()
  local s = self.s or self.raw
  if not s then return -1 end
  return s:fileno()
end

function conn:info(field)
  local s = self.s
  if not s then return nil end
  local t = {protocol = s:version(), cipher = s:cipher(), alpn = s:alpn()}
  if field then return t[field] end
  return t
end

function conn:getpeerverification()
  local s = self.s
  if not s then return false, {'closed'} end
  local ok, msg = s:verify_result()
  if ok then return true end
  return false, {msg}
end

function conn:getalpn() return self.s and self.s:alpn() or nil end
function conn:want() return 'nothing' end
function conn:setfd() error('setfd: not supported by socket2\'s ssl', 2) end
conn.getpeercertificate = unsupported('conn:getpeercertificate')
conn.getpeerchain = unsupported('conn:getpeerchain')

-- wait: socket.select and dirty() see the TLS socket's own buffer
function conn:dirty() return rbuf.buffered(self.rb) > 0 end

return M
