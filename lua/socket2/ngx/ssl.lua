-- socket2/ngx/ssl.lua: tcpsock:sslhandshake on socket2.tls (lua-nginx-module
-- README, "tcpsock:sslhandshake"):
--   session, err = sock:sslhandshake([reused_session], [server_name], [ssl_verify], [send_status_req])
-- - ssl_verify true: the server's chain is verified against
--   conf.ssl_trusted_certificate (lua_ssl_trusted_certificate; nil: the
--   system's store) and its name against server_name (or, when none is
--   given, the host given to connect: socket2.tls always checks a name when
--   it verifies). ssl_verify false or nil: no verification, as in nginx.
-- - server_name is also sent as SNI.
-- - reused_session: a session returned by an earlier sslhandshake, to
--   resume; false: the call returns true instead of the session.
-- - A connection that did its handshake (one from the pool, say) returns at
--   once. A failed handshake closes the connection: nil, err.
-- - send_status_req (OCSP stapling) is not supported: ignored.
local socket = require'socket2'
local conf = require'socket2.ngx.conf'

local M = {}

local tls, tls_err
do
  local ok, mod = pcall(require, 'socket2.tls')
  if not ok then tls_err = 'socket2.tls is not available: ' .. tostring(mod)
  else
    local avail, why = mod.available()
    if avail then tls = mod else tls_err = 'socket2.tls cannot run here: ' .. tostring(why) end
  end
end

local contexts = {} -- (verify, ca) -> tls context

local function context(verify)
  local ca = verify and conf.ssl_trusted_certificate or false
  local key = tostring(verify) .. '\0' .. tostring(ca)
  local ctx = contexts[key]
  if ctx then return ctx end
  local err
  ctx, err = tls.context{verify = verify, ca = ca or nil}
  if not ctx then return nil, err end
  contexts[key] = ctx
  return ctx
end

local function is_session(v) return type(v) == 'table' and type(v.resumable) == 'function' end

-- (self: the cosocket; see ngx/tcp.lua for its fields)
function M.handshake(self, reused_session, server_name, ssl_verify)
  local s = self.s
  if not s then return nil, 'closed' end
  if self.ssl then -- done before (a pooled connection): at once
    if reused_session == false then return true end
    return s:session()
  end
  if not tls then return nil, 'ssl not supported: ' .. tls_err end
  if server_name ~= nil and type(server_name) ~= 'string' then
    error(('bad argument #2 to \'sslhandshake\' (string expected, got %s)'):format(type(server_name)), 3)
  end
  if reused_session ~= nil and reused_session ~= false and not is_session(reused_session) then
    error('bad argument #1 to \'sslhandshake\' (session expected)', 3)
  end
  local verify = ssl_verify and true or false
  local ctx, err = context(verify)
  if not ctx then return nil, err end
  local host = server_name or (verify and self.host) or nil
  local ok, ts, code
  ok, ts, err = pcall(tls.wrap, s, ctx, {host = host, session = is_session(reused_session) and reused_session
    or nil})
  if not ok then return nil, tostring(ts) end
  if not ts then return nil, err end
  self.raw, self.s, self.ssl = s, ts, true
  local done
  done, err, code = ts:handshake(socket.clock() + (self.rt or conf.read_timeout / 1000))
  if not done then
    self.ssl = false
    require'socket2.ngx.tcp'.shut(self)
    if code == 'ETLSVERIFY' then return nil, 'certificate verify error: (' .. tostring(err) .. ')' end
    return nil, 'handshake failed: ' .. tostring(err)
  end
  if reused_session == false then return true end
  return ts:session()
end

function M.available()
  if tls then return true end
  return nil, tls_err
end

return M
