-- spec/tls/peers_spec.lua: socket2.tls against other TLS stacks from
-- Debian, as client and as server: openssl s_server/s_client, python3's
-- ssl, gnutls-serv/gnutls-cli, curl, nginx with ssl, wrk over https. Each
-- test skips, saying why, when its peer is missing (or the platform cannot
-- start Linux programs: Windows under Wine). Peers listen on a free port of
-- 127.0.0.1 and are stopped by their pid.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'
local T = require'tls.tlsh'
local tls = T.tls

local clock = socket.clock
local SKIP = T.skip() or (not T.posix and 'real peers need a POSIX host (Wine cannot start Linux programs here)')
local q = H.shell_quote

local function need(cmd)
  if not T.have(cmd) then pending(cmd .. ' not installed (apt-get install ' .. cmd .. ')') return false end
  return true
end

-- An HTTP/1.1 keep-alive server over TLS (socket2): answers every request
-- with 'hello' (or f(path, ts) when given). Returns port, state.
local function https_server(sctx, n, f)
  return T.server(sctx, n, function(ts)
    local st = socket.stream(ts)
    while true do
      local line = st:readline(false, nil, clock() + 10 * H.SLOW)
      if not line then break end
      local path = line:match'^%u+ (%S+)'
      local close = false
      while true do
        local h = st:readline(false, nil, clock() + 10 * H.SLOW)
        if not h or h == '' then break end
        if h:lower():find'^connection:%s*close' then close = true end
      end
      local body = f and f(path, ts) or 'hello'
      st:write('HTTP/1.1 200 OK\r\nContent-Length: ', #body, '\r\nContent-Type: text/plain\r\n\r\n', body)
      if not st:flush() or close then break end
    end
  end)
end

-- python3 (Debian's) running a TLS peer script
local PY_SERVER = [[
import ssl, socket, sys, threading
D, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(D + 'chain.pem', D + 'server.key')
ctx.set_alpn_protocols(['h2', 'http/1.1'])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', port)); ls.listen(8)
print('ready', flush=True)
c, _ = ls.accept()
t = ctx.wrap_socket(c, server_side=True)
if mode == 'echo':
    f = t.makefile('rb')
    n = int(f.readline())
    got = 0
    while got < n:
        b = t.recv(min(65536, n - got))
        if not b: break
        t.sendall(b); got += len(b)
    t.sendall(b'bye\n')
    t.unwrap(); t.close()
elif mode == 'noclose':
    t.recv(100)
    t.sendall(b'no close_notify follows\n')
    t.close()          # close() without unwrap(): no close_notify
]]

local PY_CLIENT = [[
import ssl, socket, sys
D, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=D + 'ca.pem')
if mode == 'mtls': ctx.load_cert_chain(D + 'client.pem', D + 'client.key')
ctx.set_alpn_protocols(['http/1.1'])
with socket.create_connection(('127.0.0.1', port)) as s:
    with ctx.wrap_socket(s, server_hostname='localhost') as t:
        t.sendall(b'GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        data = b''
        while True:
            try:
                b = t.recv(4096)
            except ssl.SSLError as e:
                print('error', e); break
            if not b: break
            data += b
        print(t.version(), t.selected_alpn_protocol(), data.decode().split('\r\n\r\n')[-1])
]]

describe('tls peers', function()
  after_each(H.no_leaks)
  if SKIP then it('run', function() pending(SKIP) end) return end

  local D, cctx, sctx
  setup(function()
    D = T.certs()
    cctx = T.client_ctx()
    sctx = T.server_ctx{alpn = {'h2', 'http/1.1'}}
  end)
  local peer
  after_each(function() T.stop(peer); peer = nil end)

  -- GET / over a fresh connection; the whole response read to close_notify
  local function get(port, ctx, host, extra)
    local ts, err, code = tls.connect(host or 'localhost', port, ctx or cctx, clock() + 10 * H.SLOW)
    assert(ts, err, code)
    assert(ts:sendall('GET / HTTP/1.0\r\nHost: localhost\r\n' .. (extra or '') .. '\r\n'))
    local parts = {}
    local b = ffi.new'uint8_t[16384]'
    while true do
      local n, e, c = ts:recv(b, 16384, clock() + 10 * H.SLOW)
      assert(n, tostring(e) .. ' ' .. tostring(c))
      if n == 0 then break end -- close_notify
      parts[#parts + 1] = ffi.string(b, n)
    end
    return table.concat(parts), ts
  end

  describe('client', function()
    it('vs openssl s_server -www: handshake, GET, read to close_notify, ALPN chosen', function()
      if not need'openssl' then return end
      local port = T.free_port()
      peer = T.spawn(('openssl s_server -accept %d -cert %s -key %s -www -alpn h2'):format(
        port, q(D .. 'chain.pem'), q(D .. 'server.key')))
      assert(T.wait_port(port), T.output(peer))
      local body, ts = get(port, T.client_ctx{alpn = {'h2', 'http/1.1'}})
      assert.matches('HTTP/1.0 200 ok', body)
      assert.matches('TLSv1.3', body)
      assert.equal('h2', ts:alpn())
      assert.equal('TLSv1.3', ts:version())
      ts:close()
    end)

    it('vs python3 ssl: ALPN, readline, 32 MB echo, bye; then a peer that sends no close_notify -> ETLSTRUNC', function()
      if not T.have_python() then pending('no /usr/bin/python3') return end
      local script = T.script(PY_SERVER)
      local port = T.free_port()
      peer = T.spawn(('%s -u %s %s %d echo'):format(T.python, q(script), q(D), port))
      H.wait_until(function() return T.output(peer):find'ready' end, 10, 'python to start')
      local N = tonumber(os.getenv'TLS_ECHO_N') or 32 * 1024 * 1024
      local ts = assert(tls.connect('localhost', port, T.client_ctx{alpn = {'http/1.1'}}, clock() + 10 * H.SLOW))
      assert.equal('http/1.1', ts:alpn())
      local st = socket.stream(ts)
      st:write(N, '\n'); assert(st:flush())
      local src = T.pattern(N)
      local back = ffi.new('uint8_t[?]', N)
      local wdone
      socket.newthread(function() assert(ts:sendall(src, N)); wdone = true end)
      local got = 0
      while got < N do
        local s = assert(st:readany(math.min(65536, N - got), clock() + 30 * H.SLOW))
        ffi.copy(back + got, s, #s)
        got = got + #s
      end
      H.wait_until(function() return wdone end)
      pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')
      assert.equal(0, ffi.C.memcmp(src, back, N))
      assert.equal('bye', st:readline())
      assert.same({nil, 'closed', 'EOF'}, {st:readline()}) -- unwrap(): close_notify
      st:close()
      T.stop(peer)
      port = T.free_port()
      peer = T.spawn(('%s -u %s %s %d noclose'):format(T.python, q(script), q(D), port))
      H.wait_until(function() return T.output(peer):find'ready' end, 10, 'python to start')
      ts = assert(tls.connect('localhost', port, cctx, clock() + 10 * H.SLOW))
      st = socket.stream(ts)
      st:write('x'); assert(st:flush())
      assert.equal('no close_notify follows', st:readline())
      local a, err, code = st:readline()
      assert.same({nil, 'ETLSTRUNC'}, {a, code}, err)
      st:close()
      os.remove(script)
    end)

    it('vs gnutls-serv --http: GET, read to close', function()
      if not need'gnutls-serv' then return end
      local port = T.free_port()
      peer = T.spawn(('gnutls-serv --http -p %d --x509certfile %s --x509keyfile %s'):format(
        port, q(D .. 'chain.pem'), q(D .. 'server.key')))
      assert(T.wait_port(port), T.output(peer))
      local ts = assert(tls.connect('localhost', port, cctx, clock() + 10 * H.SLOW))
      assert(ts:sendall('GET / HTTP/1.0\r\n\r\n'))
      local st = socket.stream(ts)
      assert.matches('^HTTP/1.[01] 200', st:readline())
      local rest = {}
      while true do
        local s, _, code = st:readany(nil, clock() + 10 * H.SLOW)
        if not s then assert.equal('EOF', code) break end
        rest[#rest + 1] = s
      end
      assert.matches('GnuTLS', table.concat(rest))
      st:close()
    end)

    it('vs nginx with ssl: GET, keep-alive, read to close_notify', function()
      local nginx = T.have'nginx' and 'nginx' or (io.open'/usr/sbin/nginx' and '/usr/sbin/nginx')
      if not nginx then pending('nginx not installed (apt-get install nginx-light)') return end
      local dir = H.tmppath'-nginx'
      assert(os.execute('mkdir -p ' .. q(dir)) == 0)
      local port = T.free_port()
      local f = assert(io.open(dir .. '/nginx.conf', 'w'))
      f:write(([[
worker_processes 1; daemon off; master_process off; pid %s/nginx.pid; error_log %s/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;
  uwsgi_temp_path %s; scgi_temp_path %s;
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;
    location / { return 200 "hello from nginx\n"; } } }
]]):format(dir, dir, dir, dir, dir, dir, dir, port, D .. 'chain.pem', D .. 'server.key'))
      f:close()
      peer = T.spawn(('%s -c %s -e %s/error.log'):format(nginx, q(dir .. '/nginx.conf'), q(dir)))
      assert(T.wait_port(port), T.output(peer))
      local ts = assert(tls.connect('localhost', port, cctx, clock() + 10 * H.SLOW))
      local st = socket.stream(ts)
      for _ = 1, 3 do
        st:write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        assert.equal('HTTP/1.1 200 OK', st:readline())
        local len
        repeat local h = st:readline(); len = len or tonumber(h:match'^Content%-Length: (%d+)') until h == ''
        assert.equal('hello from nginx\n', st:read(len))
      end
      st:write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
      assert.equal('HTTP/1.1 200 OK', st:readline())
      repeat local h = st:readline() until h == ''
      assert.equal('hello from nginx\n', st:read(17))
      assert.same({nil, 'closed', 'EOF'}, {st:readline()}) -- nginx sent close_notify
      st:close()
      T.stop(peer); peer = nil
      os.execute('rm -rf ' .. q(dir))
    end)
  end)

  describe('server', function()
    it('vs openssl s_client: SNI picks the certificate, ALPN selection, verification', function()
      if not need'openssl' then return end
      -- (a context SNI picks negotiates ALPN with its own list)
      local b = T.server_ctx{certname = 'b', keyname = 'b', alpn = {'http/1.1'}}
      local main = T.server_ctx{alpn = {'h2', 'http/1.1'}, sni = {['b.test'] = b}}
      for _, case in ipairs{{'localhost', 'h2,http/1.1', 'CN = localhost', 'h2'},
                            {'b.test', 'http/1.1', 'CN = b.test', 'http/1.1'}} do
        local port, _, state = https_server(main, 1)
        peer = T.spawn(('openssl s_client -connect 127.0.0.1:%d -servername %s -alpn %s -CAfile %s'
          .. ' -verify_return_error -verify_hostname %s'):format(
          port, case[1], case[2], q(D .. 'ca.pem'), case[1]), true)
        T.input(peer, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        H.wait_until(function() return state.done end, 10, 's_client')
        T.wait_exit(peer, 5)
        local out = T.output(peer)
        assert.matches('Verification: OK', out)
        assert.matches('subject=' .. case[3], out, 1, true)
        assert.matches('ALPN protocol: ' .. case[4], out, 1, true)
        assert.matches('hello', out)
        T.stop(peer); peer = nil
      end
    end)

    it('vs openssl s_client: mTLS required, with and without a client certificate', function()
      if not need'openssl' then return end
      local req = T.server_ctx{verify_client = 'require', ca = D .. 'ca.pem'}
      for _, with in ipairs{true, false} do
        local who
        local port, _, state = https_server(req, 1, function(_, ts)
          who = ts:peer_certificate().subject
          return who
        end)
        local cert = with and (' -cert %s -key %s'):format(q(D .. 'client.pem'), q(D .. 'client.key')) or ''
        peer = T.spawn(('openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s%s'):format(
          port, q(D .. 'ca.pem'), cert), true)
        T.input(peer, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        H.wait_until(function() return state.done end, 10, 's_client')
        T.wait_exit(peer, 5)
        local out = T.output(peer)
        if with then
          assert.equal('/CN=socket2 test client', who)
          assert.matches('socket2 test client', out)
        else
          assert.is_nil(who)
          assert.matches('certificate required', out)
        end
        T.stop(peer); peer = nil
      end
    end)

    it('vs openssl s_client -sess_out/-sess_in: the 2nd connection resumes', function()
      if not need'openssl' then return end
      local sess = H.tmppath'.sess'
      local port, _, state = https_server(sctx, 2)
      for i = 1, 2 do
        local opt = i == 1 and '-sess_out ' .. q(sess) or '-sess_in ' .. q(sess)
        peer = T.spawn(('openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s %s'):format(
          port, q(D .. 'ca.pem'), opt), true)
        T.input(peer, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        T.wait_exit(peer, 10 * H.SLOW)
        local out = T.output(peer)
        assert.matches(i == 1 and 'New, TLSv1.3' or 'Reused, TLSv1.3', out)
        T.stop(peer); peer = nil
      end
      H.wait_until(function() return state.done end)
      os.remove(sess)
    end)

    it('vs openssl s_client: KeyUpdate (K) mid-connection; a TLS 1.2 renegotiation (R) is refused', function()
      if not need'openssl' then return end
      for _, case in ipairs{{'', 'K'}, {'-tls1_2', 'R'}} do
        local lines = {}
        local port, _, state = T.server(sctx, 1, function(ts)
          local st = socket.stream(ts)
          while true do
            local line, _, code = st:readline(false, nil, clock() + 10 * H.SLOW)
            if not line then lines.err = code; break end
            lines[#lines + 1] = line
            st:write('echo ', line, '\n'); st:flush()
          end
        end)
        peer = T.spawn(('openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s %s'):format(
          port, q(D .. 'ca.pem'), case[1]), true)
        T.input(peer, 'one\n')
        H.wait_until(function() return #lines >= 1 end, 10, 'line one')
        T.input(peer, case[2] .. '\n')
        socket.sleep(0.2)
        T.input(peer, 'two\n')
        if case[2] == 'K' then
          H.wait_until(function() return #lines >= 2 end, 10, 'line two after a KeyUpdate')
          assert.same({'one', 'two'}, {lines[1], lines[2]})
          T.stop(peer); peer = nil
          H.wait_until(function() return state.done end)
        else
          -- the server refuses (no_renegotiation): OpenSSL's client then
          -- fails the connection; the server sees it end, never a crash
          H.wait_until(function() return state.done end, 10, 'the server to see the end')
          assert.equal('one', lines[1])
          T.stop(peer); peer = nil
        end
      end
    end)

    it('vs curl (HTTP/1.1 over TLS, SNI via --resolve, ALPN)', function()
      if not need'curl' then return end
      local b = T.server_ctx{certname = 'b', keyname = 'b'}
      local port, _, state = https_server(T.server_ctx{alpn = {'http/1.1'}, sni = {['b.test'] = b}}, 2)
      -- (curl is run in the background so that the loop serves it)
      for _, host in ipairs{'localhost', 'b.test'} do
        peer = T.spawn(('curl -sS --cacert %s --resolve %s:%d:127.0.0.1 https://%s:%d/ -w " %%{http_version}"'):format(
          q(D .. 'ca.pem'), host, port, host, port))
        T.wait_exit(peer, 10 * H.SLOW)
        assert.equal('hello 1.1', T.output(peer))
        T.stop(peer); peer = nil
      end
      H.wait_until(function() return state.done end)
    end)

    it('vs python3 ssl client: mTLS optional with and without a client certificate', function()
      if not T.have_python() then pending('no /usr/bin/python3') return end
      local script = T.script(PY_CLIENT)
      local opt = T.server_ctx{verify_client = 'optional', ca = D .. 'ca.pem', alpn = {'http/1.1'}}
      for _, mode in ipairs{'mtls', 'plain'} do
        local port, _, state = https_server(opt, 1, function(_, ts)
          local pc = ts:peer_certificate()
          return pc and pc.subject or 'anonymous'
        end)
        peer = T.spawn(('%s %s %s %d %s'):format(T.python, q(script), q(D), port, mode))
        T.wait_exit(peer, 10 * H.SLOW)
        H.wait_until(function() return state.done end)
        assert.equal(mode == 'mtls' and 'TLSv1.3 http/1.1 /CN=socket2 test client\n' or 'TLSv1.3 http/1.1 anonymous\n',
          T.output(peer))
        T.stop(peer); peer = nil
      end
      os.remove(script)
    end)

    it('vs gnutls-cli', function()
      if not need'gnutls-cli' then return end
      local port, _, state = https_server(sctx, 1)
      peer = T.spawn(('gnutls-cli --x509cafile %s -p %d localhost'):format(q(D .. 'ca.pem'), port), true)
      T.input(peer, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      H.wait_until(function() return state.done end, 10, 'gnutls-cli')
      T.wait_exit(peer, 5)
      local out = T.output(peer)
      assert.matches('Handshake was completed', out)
      assert.matches('hello', out)
    end)

    it('vs wrk over https (keep-alive, 10 connections, 1 s)', function()
      if not need'wrk' then return end
      local port, l = https_server(sctx, math.huge)
      peer = T.spawn(('wrk -t1 -c10 -d%ds https://127.0.0.1:%d/'):format(H.VALGRIND and 5 or 1, port))
      T.wait_exit(peer, 15 * (H.VALGRIND and 2 or 1))
      local out = T.output(peer)
      local n = tonumber(out:match'(%d+) requests in')
      assert(n and n > (H.VALGRIND and 0 or 100), out)
      assert.is_nil(out:find'Socket errors', out)
      assert.is_nil(out:find'Non%-2xx', out)
      l:close()
      H.wait_until(function() local st = socket.stats(); return st.slots == 0 and st.queued == 0 end)
    end)
  end)
end)
