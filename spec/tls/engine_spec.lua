-- spec/tls/engine_spec.lua: socket2.tls against itself (a socket2 client and
-- a socket2 server in this process), on whichever backend runs: the API,
-- verification, ALPN, SNI, mTLS, resumption, STARTTLS, concurrency,
-- deadlines, and every bad-input case that needs no outside program (the
-- real peers are in peers_spec.lua). Runs on every backend, Windows too.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'
local T = require'tls.tlsh'
local tls = T.tls
local bit = require'bit'
pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')

local clock = socket.clock
local SKIP = T.skip()

local function buf(n) return ffi.new('uint8_t[?]', n) end

-- the server side of a pair runs f(st) in a thread; returns a probe table
local function serve(st, f)
  local r = {done = false}
  socket.newthread(function()
    local ok, err = pcall(f, st)
    r.ok, r.err, r.done = ok, err, true
  end)
  return r
end

local function finish(r)
  H.wait_until(function() return r.done end, 20, 'the server thread')
  assert(r.ok, r.err)
end

describe('tls engine', function()
  after_each(H.no_leaks)
  if SKIP then it('runs', function() pending(SKIP) end) return end

  local sctx, cctx
  setup(function()
    sctx = T.server_ctx{alpn = {'h2', 'http/1.1'}}
    cctx = T.client_ctx()
  end)

  describe('api', function()
    it('available, version', function()
      assert.is_true(tls.available())
      assert.matches('^OpenSSL 3', tls.version())
    end)

    it('handshake, echo, version, cipher, close_notify -> recv 0', function()
      local c, s, cr, sr = T.pair(sctx, cctx)
      assert.same({true}, {cr[1]}); assert.same({true}, {sr[1]})
      assert.matches('^TLSv1%.[23]$', c:version())
      assert.is_string(c:cipher())
      assert.equal('localhost', s:servername())
      assert.equal('localhost', c:servername())
      assert.is_true(c:verify_result())
      local r = serve(s, function(st)
        local b = buf(100)
        local n = assert(st:recv(b, 100))
        assert(st:sendall(b, n))
        assert.equal(0, st:recv(b, 100)) -- the client's close_notify
        st:close()
      end)
      assert.equal(5, c:send('hello'))
      assert.equal('hello', H.recvn(c, 5))
      c:close()
      finish(r)
    end)

    it('recv returns 0 only after close_notify; recvall says EOF', function()
      local c, s = T.pair(sctx, cctx)
      local r = serve(s, function(st) assert(st:sendall('abc')); st:close() end)
      local b = buf(10)
      local got, err, code, n = c:recvall(b, 10)
      assert.same({nil, 'closed', 'EOF', 3}, {got, err, code, n})
      assert.equal(0, c:recv(b, 10))
      c:close()
      finish(r)
    end)

    it('socket.stream(ts): readline, read, readuntil over TLS', function()
      local c, s = T.pair(sctx, cctx)
      local r = serve(s, function(st)
        local ss = socket.stream(st)
        ss:write('line one\r\nline two\nXYZ--rest--', ('z'):rep(40000), '\n')
        assert(ss:flush())
        assert.equal('ping', ss:readline())
        ss:close()
      end)
      local st = socket.stream(c)
      assert.equal('line one', st:readline())
      assert.equal('line two', st:readline())
      assert.equal('XYZ', st:read(3))
      assert.equal('', st:readuntil('--'))
      assert.equal('rest', st:readuntil('--'))
      assert.equal(40000, #st:readline())
      st:write('ping\n')
      assert(st:flush())
      assert.same({nil, 'closed', 'EOF'}, {st:readline()})
      st:close()
      finish(r)
    end)

    it('32 MB sendall + recvall echo, both directions at once', function()
      local N = 32 * 1024 * 1024
      local c, s = T.pair(sctx, cctx)
      local r = serve(s, function(st)
        local b = buf(65536)
        local total = 0
        while total < N do
          local n = assert(st:recv(b, 65536))
          assert(n > 0)
          assert(st:sendall(b, n))
          total = total + n
        end
        assert.equal(0, st:recv(b, 1))
        st:close()
      end)
      local src = T.pattern(N)
      local back = buf(N)
      local wdone = false
      socket.newthread(function() assert(c:sendall(src, N)); wdone = true end)
      assert.equal(N, c:recvall(back, N, clock() + 60 * H.SLOW))
      H.wait_until(function() return wdone end)
      assert.equal(0, ffi.C.memcmp(src, back, N))
      c:close()
      finish(r)
    end)

    it('ALPN: the server picks by its preference; none in common: no ALPN, or an alert with alpn_strict', function()
      local c, s = T.pair(sctx, T.client_ctx{alpn = {'http/1.1', 'h2'}})
      assert.equal('h2', c:alpn()); assert.equal('h2', s:alpn())
      c:close(); s:close()
      c, s = T.pair(sctx, cctx, {host = 'localhost', alpn = {'http/1.1'}})
      assert.equal('http/1.1', c:alpn())
      c:close(); s:close()
      local cr, sr
      c, s = T.pair(sctx, T.client_ctx{alpn = {'imap'}})
      assert.is_nil(c:alpn())
      c:close(); s:close()
      local strict = T.server_ctx{alpn = {'h2'}, alpn_strict = true}
      c, s, cr, sr = T.pair(strict, T.client_ctx{alpn = {'imap'}})
      assert.is_nil(cr[1]); assert.equal('ETLSALERT', cr[3])
      assert.is_nil(sr[1]); assert.equal('ETLSPROTO', sr[3])
      c:close(); s:close()
    end)

    it('SNI picks the certificate: a table and a function', function()
      local b = T.server_ctx{certname = 'b', keyname = 'b'}
      for _, sni in ipairs{{['b.test'] = b}, function(name) return name == 'c.test' and b or nil end} do
        local main = T.server_ctx{sni = sni}
        local host = type(sni) == 'table' and 'b.test' or 'c.test'
        local c, s, cr = T.pair(main, cctx, {host = host})
        assert.same({true}, {cr[1]})
        assert.equal(host, s:servername())
        assert.equal('/CN=b.test', c:peer_certificate().subject)
        c:close(); s:close()
        c, s, cr = T.pair(main, cctx) -- localhost: the default certificate
        assert.same({true}, {cr[1]})
        assert.equal('/CN=localhost', c:peer_certificate().subject)
        c:close(); s:close()
      end
    end)

    it('peer_certificate: subject, issuer, dates, san, der', function()
      local c, s = T.pair(sctx, cctx)
      local pc = c:peer_certificate()
      assert.equal('/CN=localhost', pc.subject)
      assert.equal('/CN=socket2 test CA', pc.issuer)
      assert.same({'localhost', '127.0.0.1', '::1'}, pc.san)
      assert(pc.not_before <= os.time() + 60 and pc.not_after > os.time() + 86400 * 20)
      assert.equal(0x30, pc.der:byte(1))
      assert.is_nil(s:peer_certificate()) -- no client certificate
      assert.same({false, 'no peer certificate', 'ETLSVERIFY', -1}, {s:verify_result()})
      c:close(); s:close()
    end)

    it('a host that is an IP address is checked against the certificate\'s IPs (no SNI)', function()
      local c, s, cr = T.pair(sctx, cctx, {host = '127.0.0.1'})
      assert.same({true}, {cr[1]})
      assert.is_nil(s:servername())
      c:close(); s:close()
      c, s, cr = T.pair(sctx, cctx, {host = '127.0.0.2'})
      assert.equal('ETLSVERIFY', cr[3])
      assert.matches('IP address mismatch', cr[2])
      c:close(); s:close()
    end)
  end)

  describe('verification', function()
    local function bad(certname, keyname, why, x509)
      local c, s, cr, sr = T.pair(T.server_ctx{certname = certname, keyname = keyname}, cctx)
      assert.equal('ETLSVERIFY', cr[3])
      assert.matches(why, cr[2])
      assert.equal('ETLSALERT', sr[3]) -- the client told the server why
      -- every later call returns the same error: nothing is read as plaintext
      assert.same({nil, cr[2], 'ETLSVERIFY'}, {c:recv(buf(10), 10)})
      assert.same({nil, cr[2], 'ETLSVERIFY'}, {c:send('x')})
      assert.same({nil, cr[2], 'ETLSVERIFY'}, {c:handshake()})
      c:close(); s:close()
      -- verify = false connects, and verify_result() reports the same reason
      c, s, cr = T.pair(T.server_ctx{certname = certname, keyname = keyname}, T.client_ctx{verify = false})
      assert.same({true}, {cr[1]})
      local ok, msg, code, v = c:verify_result()
      assert.same({false, 'ETLSVERIFY', x509}, {ok, code, v})
      assert.matches(why, msg)
      c:close(); s:close()
    end
    it('expired', function() bad('expired', 'expired', 'certificate has expired', 10) end)
    it('wrong host', function() bad('wronghost', 'wronghost', 'hostname mismatch', 62) end)
    it('self-signed', function() bad('self', 'self', 'self%-signed certificate', 18) end)
    it('unknown CA', function() bad('unknown', 'unknown', 'unable to get local issuer certificate', 20) end)

    it('the system store is the default CA: the test CA is not in it', function()
      local c, s, cr = T.pair(sctx, tls.context{})
      assert.equal('ETLSVERIFY', cr[3])
      c:close(); s:close()
    end)

    it('mTLS: require and optional, with and without a client certificate', function()
      local D = T.certs()
      local with = T.client_ctx{cert = D .. 'client.pem', key = D .. 'client.key'}
      local req = T.server_ctx{verify_client = 'require', ca = D .. 'ca.pem'}
      local opt = T.server_ctx{verify_client = 'optional', ca = D .. 'ca.pem'}
      local c, s, cr, sr = T.pair(req, with)
      assert.same({true, true}, {cr[1], sr[1]})
      assert.equal('/CN=socket2 test client', s:peer_certificate().subject)
      assert.is_true(s:verify_result())
      c:close(); s:close()
      -- without: the server refuses; a TLS 1.3 client learns it on its first read
      c, s, cr, sr = T.pair(req, cctx)
      assert.equal('ETLSVERIFY', sr[3])
      local n, err, code = c:recv(buf(10), 10)
      if cr[1] then assert.same({nil, 'ETLSALERT'}, {n, code}); assert.matches('certificate required', err) end
      c:close(); s:close()
      c, s, cr, sr = T.pair(opt, cctx)
      assert.same({true, true}, {cr[1], sr[1]})
      assert.is_nil(s:peer_certificate())
      c:close(); s:close()
      c, s, cr, sr = T.pair(opt, with)
      assert.same({true, true}, {cr[1], sr[1]})
      assert.equal('/CN=socket2 test client', s:peer_certificate().subject)
      c:close(); s:close()
      -- a client certificate from an unknown CA is refused under optional too
      local other = T.client_ctx{cert = D .. 'unknown.pem', key = D .. 'unknown.key'}
      c, s, cr, sr = T.pair(opt, other)
      assert.equal('ETLSVERIFY', sr[3])
      assert.is_table(cr)
      c:close(); s:close()
    end)
  end)

  describe('resumption', function()
    -- one exchange, so that the TLS 1.3 tickets arrive, and a clean close
    local function session_round(ctx, port, close_how)
      local ts = assert(tls.connect('localhost', port, ctx, clock() + 10 * H.SLOW))
      assert(ts:sendall('x'))
      assert.equal('x', H.recvn(ts, 1))
      local reused = ts:session_reused()
      if close_how == 'abort' then
        ts.sock:close() -- no close_notify, SSL freed without SSL_shutdown
        ts:close()
      else
        ts:close()
      end
      return reused
    end

    it('2nd and 3rd connections resumed (TLS 1.3 and 1.2); after an aborted one not', function()
      for _, v in ipairs{'tls1.3', 'tls1.2'} do
        local srv = T.server_ctx{max_version = v}
        local port, _, state = T.server(srv, 5, function(ts)
          local b = buf(1)
          local n = ts:recv(b, 1)
          if n == 1 then ts:sendall(b, 1); ts:recv(b, 1) end
        end)
        local ctx = T.client_ctx()
        assert.is_false(session_round(ctx, port))
        assert.is_true(session_round(ctx, port), v .. ': 2nd')
        assert.is_true(session_round(ctx, port, 'abort'), v .. ': 3rd')
        assert.is_false(session_round(ctx, port), v .. ': after an aborted one')
        assert.is_true(session_round(ctx, port), v .. ': 5th')
        H.wait_until(function() return state.done end)
      end
    end)

    it('ts:session(), sess:export(), tls.session(der), wrap{session =}', function()
      local ctx = T.client_ctx{session_cache = 0}
      local c, s = T.pair(sctx, ctx)
      local r = serve(s, function(st) st:sendall('y'); st:recv(buf(1), 1); st:close() end)
      assert.equal('y', H.recvn(c, 1))
      local sess = c:session()
      assert.is_true(sess:resumable())
      local der = sess:export()
      c:close()
      finish(r)
      local sess2 = assert(tls.session(der))
      c, s = T.pair(sctx, ctx, {host = 'localhost', session = sess2})
      assert.is_true(c:session_reused())
      c:close(); s:close()
      assert.same({nil, 'ETLSPROTO'}, {(function(a, _, b) return a, b end)(tls.session('garbage'))})
    end)
  end)

  describe('concurrency and deadlines', function()
    it('one reader + one writer at once while the peer sends KeyUpdates: nothing lost or reordered', function()
      local N = 4 * 1024 * 1024
      local c, s = T.pair(sctx, cctx)
      local SSL = require'socket2.tls.lib'.ssl
      -- server: echoes, requesting a KeyUpdate every 64 KiB
      local r = serve(s, function(st)
        local b = buf(16384)
        local total, next_ku = 0, 65536
        while total < N do
          local n = assert(st:recv(b, 16384))
          total = total + n
          if total >= next_ku then
            assert.equal(1, SSL.SSL_key_update(st.ssl, 1)) -- update_requested
            next_ku = next_ku + 65536
          end
          assert(st:sendall(b, n))
        end
        -- (the client's KeyUpdate replies still come: read to its
        -- close_notify, or closing with unread bytes would reset)
        while assert(st:recv(b, 16384)) > 0 do end
        st:close()
      end)
      local src = T.pattern(N)
      local back = buf(N)
      local wdone
      socket.newthread(function()
        local p = ffi.cast('uint8_t*', src)
        for off = 0, N - 1, 10000 do assert(c:sendall(p + off, math.min(10000, N - off))) end
        wdone = true
      end)
      assert.equal(N, c:recvall(back, N, clock() + 60 * H.SLOW))
      H.wait_until(function() return wdone end)
      assert.equal(0, ffi.C.memcmp(src, back, N))
      c:close()
      finish(r)
    end)

    it('a second reader (writer) is a misuse error', function()
      local c, s = T.pair(sctx, cctx)
      socket.newthread(function() c:recv(buf(1), 1) end)
      H.raises('recv: another thread is already reading', c.recv, c, buf(1), 1)
      c:close(); s:close()
      socket.poll(0)
    end)

    it('cancel and close from a third thread wake the reader and the writer', function()
      local c, s = T.pair(sctx, cctx)
      local res = {}
      socket.newthread(function() res.r = {c:recv(buf(10), 10)} end)
      socket.newthread(function() res.w = {c:sendall(buf(64 * 1024 * 1024), 64 * 1024 * 1024)} end)
      socket.sleep(0.05)
      socket.newthread(function() res.n = c:cancel() end)
      -- (on a completion backend a writer whose op just ended is not
      -- waiting, so a cancel misses it: its next op is then cancelled)
      H.wait_until(function()
        if not (res.r and res.w) then socket.newthread(function() c:cancel() end) end
        return res.r and res.w
      end)
      assert(res.n >= 1)
      assert.same({nil, 'canceled', 'ECANCELED'}, res.r)
      assert.equal('ECANCELED', res.w[3])
      -- usable after a cancel; then close under waiting threads
      res = {}
      socket.newthread(function() res.r = {c:recv(buf(10), 10)} end)
      socket.newthread(function() c:close() end)
      H.wait_until(function() return res.r end)
      assert.same({nil, 'closed', 'ECANCELED'}, res.r)
      assert.is_true(c:closed())
      s:close()
    end)

    it('handshake deadline against a silent peer: ETIMEDOUT on time, then it completes', function()
      local c, s = T.raw_pair()
      local ct = tls.wrap(c, cctx, {host = 'localhost'})
      local t0 = clock()
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {ct:handshake(clock() + 0.2)})
      local dt = clock() - t0
      assert(dt >= 0.19 and dt < 1 * H.SLOW, dt)
      -- the peer wakes up: the same handshake goes on
      local st = tls.wrap(s, sctx)
      local done
      socket.newthread(function() done = {st:handshake(clock() + 10)} end)
      assert.is_true(ct:handshake(clock() + 10))
      H.wait_until(function() return done end)
      assert.same({true}, done)
      -- settimeout is the default deadline of every call
      ct:settimeout(0.1)
      assert.equal(0.1, ct:gettimeout())
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {ct:recv(buf(1), 1)})
      ct:close(); st:close()
    end)

    it('200 slowloris TLS clients are dropped at their deadline while a normal client is served', function()
      local N = H.VALGRIND and 40 or 200
      local l, port = H.listener()
      local dropped, served = 0, 0
      socket.newthread(function()
        while true do
          local c = l:accept()
          if not c then break end
          socket.newthread(function()
            local ts = tls.wrap(c, sctx)
            local st = socket.stream(ts)
            local line, _, code = st:readline(false, nil, clock() + 0.5 * H.SLOW)
            if line then st:write(line, '\n'); st:flush(); served = served + 1
            elseif code == 'ETIMEDOUT' then dropped = dropped + 1 end
            ts:close()
          end)
        end
      end)
      local slow = {}
      for i = 1, N do
        slow[i] = assert(socket.tcp())
        assert(slow[i]:connect('127.0.0.1', port))
        assert(slow[i]:send('\22\3\1')) -- a record header, then nothing
      end
      local t0 = clock()
      local ts = assert(tls.connect('localhost', port, cctx, clock() + 5 * H.SLOW))
      local st = socket.stream(ts)
      st:write('hi\n')
      assert.equal('hi', st:readline(false, nil, clock() + 5 * H.SLOW))
      assert(clock() - t0 < 0.5 * H.SLOW, 'the normal client waited for the slow ones')
      st:close()
      H.wait_until(function() return dropped == N end, 10)
      assert.equal(1, served)
      for _, s in ipairs(slow) do s:close() end
      l:close()
      socket.poll(0)
    end)

    it('close() does not wait for the peer\'s close_notify; a silent peer does not hang it', function()
      local c, s = T.pair(sctx, cctx)
      local t0 = clock()
      assert.is_true(c:close())
      assert(clock() - t0 < 0.5)
      s:close()
    end)
  end)

  describe('bad input', function()
    -- a raw server that sends `bytes` then closes (or resets); a TLS client
    local function client_against(bytes, how, ctx)
      local c, s = T.raw_pair()
      local ct = tls.wrap(c, ctx or cctx, {host = 'localhost'})
      socket.newthread(function()
        local b = buf(4096)
        s:recv(b, 4096, clock() + 2)
        if bytes then s:sendall(bytes) end
        if how == 'rst' then s:setopt('linger', 0) end
        if how ~= 'keep' then s:close() end
      end)
      local r = {ct:handshake(clock() + 5 * H.SLOW)}
      ct:close()
      if not s:closed() then s:close() end
      return r
    end

    it('random bytes -> ETLSPROTO', function()
      local junk = {}
      for i = 1, 300 do junk[i] = string.char((i * 97 + 13) % 256) end
      local r = client_against(table.concat(junk))
      assert.same({nil, 'ETLSPROTO'}, {r[1], r[3]})
    end)

    it('TLS to a plain server that answers in plaintext -> ETLSPROTO', function()
      local r = client_against('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
      assert.same({nil, 'ETLSPROTO'}, {r[1], r[3]})
      assert.matches('wrong version number', r[2])
    end)

    it('truncated handshake (half a ServerHello, then FIN) -> ETLSTRUNC', function()
      local r = client_against('\22\3\3\0\122\2\0\0\118\3\3')
      assert.same({nil, 'ETLSTRUNC'}, {r[1], r[3]})
    end)

    it('EOF before any byte -> ETLSTRUNC; RST mid-handshake -> ECONNRESET', function()
      local r = client_against(nil)
      assert.same({nil, 'ETLSTRUNC'}, {r[1], r[3]})
      if not H.wine then -- (Wine: a linger-0 close does not reset)
        r = client_against('\22\3\3\0\122\2\0', 'rst')
        assert.same({nil, 'ECONNRESET'}, {r[1], r[3]})
      end
    end)

    it('plaintext HTTP to a TLS server -> ETLSPROTO (http request), and no plaintext gets through', function()
      local c, s = T.raw_pair()
      local st = tls.wrap(s, sctx)
      assert(c:sendall('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
      local b = buf(100)
      local n, err, code = st:recv(b, 100, clock() + 5)
      assert.same({nil, 'ETLSPROTO'}, {n, code})
      assert.matches('http request', err)
      assert.same({nil, err, code}, {st:recv(b, 100)})
      st:close(); c:close()
    end)

    -- a relay between a TLS client and server that can change the stream
    local function relay(mangle)
      local l, port = H.listener()
      local c2s = 0
      mangle.pumps = 0
      socket.newthread(function()
        local a = l:accept()
        l:close()
        if not a then return end
        local z = assert(socket.tcp())
        assert(z:connect('127.0.0.1', mangle.port))
        local function pump(from, to, dir)
          local b = buf(65536)
          while true do
            local n = from:recv(b, 65536)
            if not n or n == 0 then break end
            if dir == 's2c' then mangle.f(b, n) else c2s = c2s + n end
            if not to:sendall(b, n) then break end
          end
          if dir == 's2c' and mangle.no_close_notify then to:setopt('linger', 0) end
          if not from:closed() then from:close() end
          if not to:closed() then to:close() end
          mangle.pumps = mangle.pumps + 1
        end
        socket.newthread(pump, a, z, 'c2s')
        pump(z, a, 's2c')
      end)
      return port
    end

    it('a flipped byte in a record -> ETLSPROTO (bad record mac)', function()
      local done = false
      local sport, _, state = T.server(sctx, 1, function(ts)
        ts:recv(buf(1), 1)
        ts:sendall(('d'):rep(3000))
        ts:recv(buf(1), 1, clock() + 5)
        done = true
      end)
      local seen = 0
      local mangle
      mangle = {port = sport, f = function(b, n)
        for i = 0, n - 1 do
          seen = seen + 1
          if seen == 4000 then b[i] = bit.bxor(b[i], 1) end -- inside the 3000-byte record
        end
      end}
      local port = relay(mangle)
      local ts = assert(tls.connect('localhost', port, cctx, clock() + 5 * H.SLOW))
      assert(ts:send('x'))
      local got, err, code = ts:recvall(buf(3000), 3000, clock() + 5 * H.SLOW)
      assert.same({nil, 'ETLSPROTO'}, {got, code})
      assert.matches('bad record mac', err)
      ts:close()
      H.wait_until(function() return done and state.done and mangle.pumps == 2 end)
    end)

    it('EOF without close_notify -> ETLSTRUNC (the stream keeps what came); ragged_eof -> 0', function()
      for _, ragged in ipairs{false, true} do
        local c, s = T.pair(sctx, T.client_ctx{ragged_eof = ragged})
        assert(s:sendall('partial'))
        s.sock:close() -- the TCP connection ends, no close_notify
        s:close()
        local st = socket.stream(c)
        local a, err, code = st:read(100)
        if ragged then
          assert.same({nil, 'closed', 'EOF'}, {a, err, code})
        else
          assert.same({nil, 'ETLSTRUNC'}, {a, code})
          assert.matches('unexpected eof', err)
        end
        assert.equal('partial', st:buffered())
        c:close()
      end
    end)

    it('sending after shutdown(\'w\') -> ESHUTDOWN; the peer reads 0, and may still send', function()
      local c, s = T.pair(sctx, cctx)
      assert.is_true(c:shutdown('w'))
      assert.same({nil, 'cannot send after shutdown', 'ESHUTDOWN'}, {c:send('x')})
      assert.equal(0, s:recv(buf(1), 1))
      assert(s:sendall('late'))
      assert.equal('late', H.recvn(c, 4))
      c:close(); s:close()
    end)
  end)

  describe('STARTTLS', function()
    it('a client that pipelines its ClientHello right after STARTTLS; injected plaintext fails the handshake', function()
      for _, inject in ipairs{false, true} do
        local c, s = T.raw_pair()
        local srv = socket.stream(s)
        local r = serve(srv, function(ss)
          assert.equal('STARTTLS', ss:readline())
          ss:write('220 go ahead\r\n')
          local ts, err, code = ss:starttls(sctx, nil, clock() + 5 * H.SLOW)
          if inject then
            assert.is_nil(ts); assert.equal('ETLSPROTO', code, err)
            assert.same({nil, err, code}, {ss:readline()}) -- never plaintext
            ss:close()
            return
          end
          assert(ts)
          assert.equal('hello over tls', ss:readline())
          ss:write('bye\n')
          ss:close()
        end)
        -- the client: STARTTLS and the ClientHello in one send when pipelining
        local cl = socket.stream(c)
        if inject then
          cl:write('STARTTLS\r\nRCPT TO:<evil>\r\n')
          assert(cl:flush())
          assert.equal('220 go ahead', cl:readline())
          local ts, _, code = cl:starttls(cctx, {host = 'localhost'}, clock() + 5 * H.SLOW)
          assert.is_nil(ts)
          assert.truthy(code)
          cl:close()
        else
          local ct = tls.wrap(c, cctx, {host = 'localhost'})
          -- first flight by hand: STARTTLS line + ClientHello in one segment
          local SSL = require'socket2.tls.lib'
          SSL.ssl.SSL_do_handshake(ct.ssl)
          SSL.crypto.ERR_clear_error()
          local hello = buf(4096)
          local hn = SSL.crypto.BIO_read(ct.wbio, hello, 4096)
          assert(hn > 0)
          local msg = 'STARTTLS\r\n' .. ffi.string(hello, hn)
          assert(c:sendall(msg))
          local st = socket.stream(ct)
          -- the server's reply line comes in plaintext before its TLS records
          local line = {}
          local b1 = buf(1)
          while true do
            assert.equal(1, c:recv(b1, 1))
            if b1[0] == 10 then break end
            line[#line + 1] = string.char(b1[0])
          end
          assert.equal('220 go ahead\r', table.concat(line))
          assert(ct:handshake(clock() + 5 * H.SLOW))
          st:write('hello over tls\n')
          assert.equal('bye', st:readline())
          st:close()
        end
        finish(r)
      end
    end)
  end)

  describe('contexts', function()
    it('ETLSCONFIG: a missing file, a key that does not match, an empty cipher list, an encrypted key', function()
      local D = T.certs()
      local function code_of(o) local _, err, code = tls.context(o); return code, err end
      assert.equal('ETLSCONFIG', code_of{server = true, cert = D .. 'nope.pem', key = D .. 'server.key'})
      assert.equal('ETLSCONFIG', code_of{server = true, cert = D .. 'server.pem', key = D .. 'b.key'})
      assert.equal('ETLSCONFIG', code_of{ciphers = 'NO-SUCH-CIPHER'})
      assert.equal('ETLSCONFIG', code_of{ca = D .. 'nope.pem'})
      assert.equal('ETLSCONFIG', code_of{ca = D .. 'server.key'})
      assert.equal('ETLSCONFIG', code_of{server = true, cert = D .. 'server.pem', key = D .. 'enc.key'})
      assert.equal('ETLSCONFIG', code_of{server = true, cert = D .. 'server.pem', key = D .. 'enc.key', password = 'wrong'})
      assert(tls.context{server = true, cert = D .. 'server.pem', key = D .. 'enc.key', password = 'secret'})
      -- PEM text instead of file names; a list of CAs
      assert(tls.context{server = true, cert = T.read'chain.pem', key = T.read'server.key'})
      assert(tls.context{ca = {T.read'ca.pem', D .. 'other-ca.pem'}})
    end)

    it('misuse raises: unknown option, wrong types, verify without host', function()
      H.raises('unknown option \'verfy\'', tls.context, {verfy = true})
      H.raises('option \'alpn\'', tls.context, {alpn = 'h2'})
      H.raises('verify_client', tls.context, {server = true, cert = 'x', key = 'y', verify_client = 'yes'})
      H.raises('needs \'cert\'', tls.context, {server = true})
      H.raises('ticket_keys', tls.context, {ticket_keys = 'short'})
      local c, s = T.raw_pair()
      H.raises('host required', tls.wrap, c, cctx)
      H.raises('unknown option', tls.wrap, c, cctx, {hots = 'x'})
      H.raises('stream socket expected', tls.wrap, {}, cctx)
      H.raises('TLS context expected', tls.wrap, c, {})
      local ts = tls.wrap(c, T.client_ctx{verify = false})
      H.raises('recv: TLS socket expected', ts.recv, {}, buf(1), 1)
      ts:close(); s:close()
      H.raises('recv: socket is closed', ts.recv, ts, buf(1), 1)
    end)

    it('keylog writes the secrets of each handshake; ticket_keys shared by two contexts resume across them', function()
      local path = H.tmppath'.keylog'
      local keys = ('k'):rep(80)
      local a = T.server_ctx{keylog = path, ticket_keys = keys}
      local b = T.server_ctx{ticket_keys = keys}
      local ctx = T.client_ctx{session_cache = 0}
      local c, s = T.pair(a, ctx)
      local r = serve(s, function(st) st:sendall('z'); st:recv(buf(1), 1); st:close() end)
      assert.equal('z', H.recvn(c, 1))
      local sess = c:session()
      c:close(); finish(r)
      local f = assert(io.open(path)); local log = f:read'*a'; f:close(); os.remove(path)
      assert.matches('CLIENT_HANDSHAKE_TRAFFIC_SECRET', log)
      c, s = T.pair(b, ctx, {host = 'localhost', session = sess})
      assert.is_true(c:session_reused())
      c:close(); s:close()
    end)
  end)
end)
