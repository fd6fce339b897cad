-- bench/tls/cqueues.lua CERT KEY: the HTTPS hello server on Debian's
-- lua-cqueues + lua-luaossl, written as their users write one (a
-- coroutine per connection, line-buffered reads, cqueues' starttls).
local cqueues = require'cqueues'
local signal = require'cqueues.signal'
signal.ignore(signal.SIGPIPE) -- (a client that leaves mid-write)
local socket = require'cqueues.socket'
local context = require'openssl.ssl.context'
local x509 = require'openssl.x509'
local pkey = require'openssl.pkey'

local function read(p) local f = assert(io.open(p, 'rb')); local s = f:read'*a'; f:close(); return s end
local ctx = context.new('TLS', true)
ctx:setCertificate(x509.new(read(arg[1])))
ctx:setPrivateKey(pkey.new(read(arg[2])))

local REPLY = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!'
local srv = socket.listen{host = '127.0.0.1', port = 0}
local cq = cqueues.new()
cq:wrap(function()
  for con in srv:clients() do
    cq:wrap(function()
      -- (cqueues sockets raise on a reset: the connection ends there)
      pcall(function()
        con:setmode('b', 'bn')
        if not con:starttls(ctx, 10) then return end
        while true do
          local line = con:read'*l'
          if not line then break end
          if line == '' or line == '\r' then
            con:write(REPLY)
            con:flush()
          end
        end
      end)
      con:close()
    end)
  end
end)
assert(cq:step(0))
local _, _, port = srv:localname()
local f = io.open('/proc/self/stat'); local pid = f:read'*n'; f:close()
io.stdout:write(('PORT %d PID %d\n'):format(port, pid)); io.stdout:flush()
assert(cq:loop())
