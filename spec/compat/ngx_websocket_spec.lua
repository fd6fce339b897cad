-- spec/compat/ngx_websocket_spec.lua: Debian's unchanged lua-nginx-websocket
-- client (nginx.websocket.client 0.08, as resty.websocket.client) on
-- socket2.ngx against websocketd (echoing with cat), ws:// and wss:// (its
-- TLS through tcpsock:sslhandshake on socket2.tls); the websocket server
-- of the same package needs an nginx request and says so.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

describe('compat: nginx.websocket.client on socket2.ngx', function()
  local text, bin, tlssrv, why, binwhy, tlswhy, certs
  setup(function()
    local ok
    ok, why = S.have_lib('nginx.websocket.client')
    binwhy, tlswhy = why, why
    if ok then
      text, why = S.start('websocketd', 'text')
      bin, binwhy = S.start('websocketd', 'binary')
      local tlsok, tlsno = require'socket2.ngx.ssl'.available()
      if not tlsok then tlswhy = tlsno
      elseif S.can_start() then
        certs, tlswhy = S.certs()
        if certs then tlssrv, tlswhy = S.start('websocketd-tls', certs) end
      else
        tlswhy = select(2, S.can_start())
      end
    end
  end)
  teardown(function()
    S.stop(text); S.stop(bin); S.stop(tlssrv)
    ngx.socket2.conf.ssl_trusted_certificate = nil
  end)
  after_each(S.clean)

  local function client(opts)
    local c = require'resty.websocket.client'
    return assert(c:new(opts or {timeout = 3000}))
  end

  -- the whole message: frames until one that is not 'again' (a fragment)
  local function recv_message(wb)
    local parts, first = {}, nil
    while true do
      local data, typ, err = wb:recv_frame()
      if not data then return nil, typ, err end
      parts[#parts + 1] = data
      first = first or typ -- (then 'continuation')
      if err ~= 'again' then return table.concat(parts), first, err end
    end
  end

  it('handshake, text frames, ping, close', function()
    H.skip_unless(text, why)
    socket.run(function()
      local wb = client()
      assert.equal(1, wb:connect(('ws://127.0.0.1:%d/'):format(text.port)))
      assert.equal(11, wb:send_text('hello'))
      assert.same({'hello', 'text'}, {recv_message(wb)})
      assert(wb:send_ping('are you there'))
      assert.same({'are you there', 'pong'}, {wb:recv_frame()})
      local big = ('0123456789'):rep(10000)
      wb = client{timeout = 3000, max_payload_len = 1000000}
      assert.equal(1, wb:connect(('ws://127.0.0.1:%d/'):format(text.port)))
      assert(wb:send_text(big))
      local got, gtyp = recv_message(wb)
      assert.equal('text', gtyp)
      assert.is_true(got == big, 'the 100000 bytes echoed')
      assert(wb:send_close(1000, 'bye'))
      local data, typ, code = wb:recv_frame()
      assert.equal('close', typ)
      assert.equal(1000, code)
      assert.equal('string', type(data))
      assert.same({nil, 'already closed'}, {wb:send_text('late')})
    end)
  end)

  it('binary frames, both ways', function()
    H.skip_unless(bin, binwhy)
    socket.run(function()
      local wb = client()
      assert.equal(1, wb:connect(('ws://127.0.0.1:%d/'):format(bin.port)))
      local payload = '\0\1\2\255\254' .. ('\0'):rep(1000)
      assert(wb:send_binary(payload))
      local got = {}
      while #table.concat(got) < #payload do
        local data, typ = wb:recv_frame()
        assert.equal('binary', typ)
        got[#got + 1] = data
      end
      assert.equal(payload, table.concat(got))
      assert.equal(1, wb:close())
    end)
  end)

  it('a read timeout is not fatal; a connection refused is an error', function()
    H.skip_unless(text, why)
    socket.run(function()
      local wb = client{timeout = 100}
      assert.equal(1, wb:connect(('ws://127.0.0.1:%d/'):format(text.port)))
      local data, typ, err = wb:recv_frame()
      assert.is_nil(data)
      assert.is_nil(typ)
      assert.matches(': timeout', err)
      assert(wb:send_text('still here'))
      wb:set_timeout(3000)
      assert.same({'still here', 'text'}, {recv_message(wb)})
      wb:close()
      local ok, cerr = client():connect(('ws://127.0.0.1:%d/'):format(S.free_port()))
      assert.is_nil(ok)
      assert.equal('failed to connect: connection refused', cerr)
    end)
  end)

  it('wss through sslhandshake: verified against the test CA, refused against the system store', function()
    H.skip_unless(tlssrv, tlswhy)
    socket.run(function()
      -- no verification (the ws client's default): any certificate
      local wb = client()
      assert.equal(1, wb:connect(('wss://127.0.0.1:%d/'):format(tlssrv.port)))
      assert(wb:send_text('over tls'))
      assert.same({'over tls', 'text'}, {recv_message(wb)})
      wb:close()
      -- verification against the system's CAs: the test CA is not one of them
      local ok, err = client():connect(('wss://localhost:%d/'):format(tlssrv.port), {ssl_verify = true})
      assert.is_nil(ok)
      assert.matches('ssl handshake failed: certificate verify error', err)
      -- lua_ssl_trusted_certificate = the test CA: verified, by name
      ngx.socket2.conf.ssl_trusted_certificate = certs .. '/ca.pem'
      wb = client()
      assert.equal(1, wb:connect(('wss://localhost:%d/'):format(tlssrv.port), {ssl_verify = true}))
      assert(wb:send_text('verified'))
      assert.same({'verified', 'text'}, {recv_message(wb)})
      -- pooled: the next connect reuses it, TLS and websocket handshakes done
      assert.equal(1, wb:set_keepalive())
      local wb2 = client()
      assert.equal(1, wb2:connect(('wss://localhost:%d/'):format(tlssrv.port), {ssl_verify = true}))
      assert.equal(1, wb2.sock:getreusedtimes())
      assert(wb2:send_text('reused'))
      assert.same({'reused', 'text'}, {recv_message(wb2)})
      wb2:close()
      ngx.socket2.conf.ssl_trusted_certificate = nil
    end)
  end)

  it('the websocket server needs an nginx request: it says so', function()
    H.skip_unless(S.have_lib('nginx.websocket.server'))
    local server = require'resty.websocket.server'
    H.raises('ngx%.req%.[a-z_]+: not supported outside nginx', server.new, server)
  end)
end)
