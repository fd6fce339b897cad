-- bench/peers/cqueues.lua WORKLOAD: the benchmark server on cqueues, as a
-- cqueues user writes it: one coroutine per connection, xread/xwrite with
-- strings, binary mode, no output buffering. The bytes go through
-- bench/app.lua like every other server. I/O errors are returned, not
-- thrown (cqueues throws all but EPIPE and ETIMEDOUT by default).
local ffi = require'ffi'
local cqueues = require'cqueues'
local csocket = require'cqueues.socket'
local app = require'app'

local kind = app.args(arg)
local chunk = string.rep('x', app.CHUNK)

local Conn = {}
Conn.__index = Conn
function Conn:recv(buf, len)
  local s = self.con:xread(-len, 'b')
  if not s then return 0 end
  ffi.copy(buf, s, #s)
  return #s
end
function Conn:sendall(buf, len)
  return self.con:xwrite(ffi.string(buf, len), 'bn')
end
function Conn:discard(len)
  local s = self.con:xread(-len, 'b')
  return s and #s or 0
end
function Conn:send_chunk(len)
  return self.con:xwrite(len == #chunk and chunk or chunk:sub(1, len), 'bn')
end
function Conn:close() self.con:close() end

local cq = cqueues.new()
local srv = assert(csocket.listen{host = '127.0.0.1', port = 0, reuseaddr = true})
assert(srv:listen())
local _, _, port = srv:localname()

local function return_error(_, _, why) return why end

cq:wrap(function()
  for con in srv:clients() do
    con:onerror(return_error)
    local c = setmetatable({con = con}, Conn)
    if kind == 'bulk' then
      cq:wrap(app.bulk_serve, c)
    else
      cq:wrap(app.serve, c, kind)
    end
  end
end)

app.ready(port)
while true do
  local ok, err = cq:step()
  if not ok then io.stderr:write('cqueues: ', tostring(err), '\n') end
end
