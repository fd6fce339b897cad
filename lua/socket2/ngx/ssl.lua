-- socket2/ngx/ssl.lua: tcpsock:sslhandshake on socket2.tls.
local M = {}

local ok_tls, tls = pcall(require, 'socket2.tls')

function M.handshake(self)
  if not self.s then return nil, 'closed' end
  if not ok_tls then return nil, 'ssl not supported: socket2.tls is not available' end
  return nil, 'ssl not supported yet'
end

return M
