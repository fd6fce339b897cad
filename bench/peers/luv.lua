-- bench/peers/luv.lua WORKLOAD: the benchmark server on luv (libuv), as a
-- luv user writes it: read_start callbacks deliver strings, write takes
-- strings. The bytes go through bench/app.lua like every other server.
local ffi = require'ffi'
local uv = require'luv'
local app = require'app'

local kind = app.args(arg)
local BUFSZ, CHUNK = app.BUFSZ, app.CHUNK

local function out(client, ob, olen)
  client:write(ffi.string(ob, olen))
  return true
end

local function serve(client)
  local st = app.conn(kind)
  local function finish()
    if st.ib then app.free_conn(st) end
    if not client:is_closing() then client:close() end
  end
  client:read_start(function(err, chunk)
    if err or not chunk then return finish() end
    local n, i = #chunk, 0
    while i < n do -- a chunk larger than the room left goes in pieces
      local room = BUFSZ - st.ilen
      local k = n - i < room and n - i or room
      ffi.copy(st.ib + st.ilen, ffi.cast('const uint8_t*', chunk) + i, k)
      st.ilen = st.ilen + k
      i = i + k
      if not app.process(st, out, client) then return finish() end
    end
  end)
end

local chunk = string.rep('x', CHUNK)

local function bulk(client)
  local hb = app.getbuf()
  local got, left, source = 0, nil, nil
  local function pump()
    while source > 0 and client:get_write_queue_size() < 2 * CHUNK do
      local len = source < CHUNK and source or CHUNK
      source = source - len
      client:write(len == CHUNK and chunk or chunk:sub(1, len),
                   source == 0 and function() client:close() end or pump)
    end
  end
  client:read_start(function(err, data)
    if err or not data then client:close(); return end
    if not left then -- the header
      local k = #data < 128 - got and #data or 128 - got
      ffi.copy(hb + got, data, k)
      got = got + k
      local sink, src, hlen = app.bulk_header(hb, got)
      if sink == nil then return end
      app.putbuf(hb)
      if not sink then client:close(); return end
      left, source = sink - (got - hlen) - (#data - k), src
    else
      left = left - #data
    end
    if left <= 0 then
      client:read_stop()
      if source == 0 then client:close() else pump() end
    end
  end)
end

local server = uv.new_tcp()
assert(server:bind('127.0.0.1', 0))
assert(server:listen(4096, function(err)
  assert(not err, err)
  local client = uv.new_tcp()
  server:accept(client)
  if kind == 'bulk' then bulk(client) else serve(client) end
end))

app.ready(server:getsockname().port)
uv.run()
