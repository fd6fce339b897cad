-- spec/io/tcp_spec.lua: tcp sockets over loopback (port 0 only).
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local clock = socket.clock
pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')

-- recv up to n bytes into a fresh buffer: string, or nil, err, code
local function recvs(s, n, expires, flags)
  local buf = ffi.new('uint8_t[?]', n)
  local got, err, code = s:recv(buf, n, expires, flags)
  if not got then return nil, err, code end
  return ffi.string(buf, got)
end

-- read until EOF: the whole string
local function recv_to_eof(s)
  local buf = ffi.new('uint8_t[?]', 4096)
  local t = {}
  while true do
    local n, err, code = s:recv(buf, 4096)
    if not n then return nil, err, code end
    if n == 0 then break end
    t[#t + 1] = ffi.string(buf, n)
  end
  return table.concat(t)
end

-- exactly n bytes (recvall): string
local recvn = H.recvn

local errmsg = H.err_of

-- Connects a client to a listener and accepts it: client, server-side.
local function connect_accept(l, host, port)
  local server, remote, loc
  socket.newthread(function() server, remote, loc = assert(l:accept()) end)
  local c = assert(socket.tcp(host:find':' and 'inet6' or 'inet'))
  assert(c:connect(host, port))
  while not server do socket.poll(1) end
  return c, server, remote, loc
end

describe('tcp', function()
  after_each(H.no_leaks)

  describe('listen', function()
    it('listen(host, port)', function()
      local l = assert(socket.tcp())
      assert.is_true(l:listen('127.0.0.1', 0))
      local port = l:getsockname():port()
      assert.is_true(port > 0)
      assert.equal('127.0.0.1', l:getsockname():ip())
      local c, s = connect_accept(l, '127.0.0.1', port)
      c:close(); s:close(); l:close()
    end)

    it('listen(backlog, host, port)', function()
      local l = assert(socket.tcp())
      assert.is_true(l:listen(8, '127.0.0.1', 0))
      local port = l:getsockname():port()
      assert.is_true(port > 0)
      local c, s = connect_accept(l, '127.0.0.1', port)
      c:close(); s:close(); l:close()
    end)

    it('listen(host, port, backlog)', function()
      local l = assert(socket.tcp())
      assert.is_true(l:listen('127.0.0.1', 0, 8))
      local port = l:getsockname():port()
      assert.is_true(port > 0)
      local c, s = connect_accept(l, '127.0.0.1', port)
      c:close(); s:close(); l:close()
    end)

    it('listen() and listen(backlog) after bind keep the bound address', function()
      local l = assert(socket.tcp())
      assert.is_true(l:bind('127.0.0.1', 0))
      local port = l:getsockname():port()
      assert.is_true(l:listen())
      assert.equal(port, l:getsockname():port())
      assert.equal('127.0.0.1', l:getsockname():ip())
      local c, s = connect_accept(l, '127.0.0.1', port)
      c:close(); s:close(); l:close()

      local l2 = assert(socket.tcp())
      assert.is_true(l2:bind('127.0.0.1', 0))
      local port2 = l2:getsockname():port()
      assert.is_true(l2:listen(16))
      assert.equal(port2, l2:getsockname():port())
      c, s = connect_accept(l2, '127.0.0.1', port2)
      c:close(); s:close(); l2:close()
    end)

    it('a bad backlog is a Lua error naming listen', function()
      local l = assert(socket.tcp())
      local err = errmsg(l.listen, l, -1, '127.0.0.1', 0)
      assert.matches('listen', err)
      l:close()
    end)
  end)

  describe('accept and connect', function()
    it('accept -> client, remote sa, local sa', function()
      local l, port = H.listener()
      local c, s, remote, loc = connect_accept(l, '127.0.0.1', port)
      assert.is_true(socket.issocket(s))
      assert.equal('tcp', s:kind())
      assert.equal(c:getsockname():port(), remote:port())
      assert.equal('127.0.0.1', remote:ip())
      assert.equal(port, loc:port())
      assert.equal('127.0.0.1', loc:ip())
      assert.equal('127.0.0.1:' .. port, loc:tostring())
      assert.equal('127.0.0.1:' .. port, tostring(loc))
      assert.equal('inet', remote:family())
      c:close(); s:close(); l:close()
    end)

    it('connects by host, port; by sa; by ai; by localhost', function()
      local l, port = H.listener()
      local targets = {
        function(c) return c:connect('127.0.0.1', port) end,
        function(c) return c:connect(assert(socket.sockaddr('127.0.0.1', port))) end,
        function(c) return c:connect(assert(socket.addr('127.0.0.1', port))) end,
        function(c) return c:connect('localhost', port) end,
      }
      for i, connect in ipairs(targets) do
        local server
        socket.newthread(function() server = assert(l:accept()) end)
        local c = assert(socket.tcp())
        local ok, err, code = connect(c)
        assert.is_true(ok, ('target %d: %s %s'):format(i, tostring(err), tostring(code)))
        while not server do socket.poll(1) end
        assert.equal(port, c:getpeername():port())
        assert.equal(c:getsockname():port(), server:getpeername():port())
        assert.equal(5, c:send('hello'))
        assert.equal('hello', recvn(server, 5))
        c:close(); server:close()
      end
      l:close()
    end)

    it('connect to a closed port -> nil, connection refused, ECONNREFUSED', function()
      local l, port = H.listener()
      l:close()
      local c = assert(socket.tcp())
      local ok, err, code = c:connect('127.0.0.1', port)
      assert.is_nil(ok)
      assert.equal('connection refused', err)
      assert.equal('ECONNREFUSED', code)
      c:close()
    end)

    it('accept with a per-call deadline -> nil, timeout, ETIMEDOUT', function()
      local l = H.listener()
      local t0 = clock()
      local c, err, code = l:accept(clock() + 0.05)
      local dt = clock() - t0
      assert.is_nil(c)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      assert.is_true(dt >= 0.045 and dt < 1, 'waited ' .. dt)
      -- still usable
      local port = l:getsockname():port()
      local cc, s = connect_accept(l, '127.0.0.1', port)
      cc:close(); s:close(); l:close()
    end)
  end)

  describe('send and recv', function()
    it('echo with string and cdata buffers', function()
      local c, s = H.pair()
      -- string
      assert.equal(11, c:send('hello world'))
      assert.equal('hello world', recvn(s, 11))
      -- string with an explicit shorter length
      assert.equal(5, s:send('abcdefgh', 5))
      assert.equal('abcde', recvn(c, 5))
      -- cdata
      local out = ffi.new('uint8_t[16]')
      for i = 0, 15 do out[i] = 65 + i end
      assert.equal(16, c:send(out, 16))
      local inb = ffi.new('uint8_t[16]')
      assert.equal(16, s:recvall(inb, 16))
      assert.equal('ABCDEFGHIJKLMNOP', ffi.string(inb, 16))
      -- char* pointer with explicit length
      assert.equal(4, s:send(ffi.cast('const char*', 'wxyz'), 4))
      assert.equal('wxyz', recvn(c, 4))
      c:close(); s:close()
    end)

    it('echo over IPv6 loopback', function()
      if not H.has_ipv6() then pending('no IPv6 loopback here') return end
      local l, port = H.listener('inet6')
      assert.equal('::1', l:getsockname():ip())
      assert.equal('[::1]:' .. port, l:getsockname():tostring())
      local c, s, remote, loc = connect_accept(l, '::1', port)
      assert.equal('inet6', remote:family())
      assert.equal('::1', remote:ip())
      assert.equal(c:getsockname():port(), remote:port())
      assert.equal(port, loc:port())
      assert.equal('inet6', c:family())
      assert.equal(6, c:send('hello6'))
      assert.equal('hello6', recvn(s, 6))
      assert.equal(3, s:send('ack'))
      assert.equal('ack', recvn(c, 3))
      c:close(); s:close(); l:close()
    end)

    it('recv returns what is there (partial), send may be partial', function()
      local c, s = H.pair()
      assert.equal(10, c:send('0123456789'))
      assert.is_true(s:wait('r', 1))
      assert.equal('0123', recvs(s, 4))
      assert.equal('456789', recvs(s, 100)) -- fewer than asked: what was there
      -- a large non-blocking send on a small buffer moves only what fits
      assert(c:setopt('sndbuf', 4096))
      local big = ffi.new('uint8_t[?]', 8 * 1024 * 1024)
      local n = assert(c:send(big, 8 * 1024 * 1024))
      assert.is_true(n > 0 and n < 8 * 1024 * 1024, 'sent ' .. n)
      c:close(); s:close()
    end)

    it('recv returns 0 at EOF and keeps returning 0', function()
      local c, s = H.pair()
      local n0
      socket.newthread(function() n0 = s:recv(ffi.new('uint8_t[8]'), 8) end)
      assert.is_nil(n0) -- parked
      c:close()
      socket.start()
      assert.equal(0, n0)
      local buf = ffi.new('uint8_t[8]')
      assert.equal(0, s:recv(buf, 8))
      assert.equal(0, s:recv(buf, 8))
      s:close()
    end)

    it('recv with the peek flag leaves the data for the next recv', function()
      local c, s = H.pair()
      assert(c:send('peekaboo'))
      assert.is_true(s:wait('r', 1))
      assert.equal('peek', recvs(s, 4, nil, 'peek'))
      assert.equal('peekaboo', recvs(s, 8, nil, 'peek'))
      assert.equal('peekaboo', recvs(s, 8))
      c:close(); s:close()
    end)

    it('out-of-band byte: send(..., \'oob\') and recv(..., \'oob\')', function()
      local c, s = H.pair()
      assert.is_false(s:getopt('oobinline'))
      assert.equal(2, c:send('ab'))
      assert.equal(1, c:send('!', 1, nil, 'oob'))
      assert.equal(2, c:send('cd'))
      assert.is_true(s:wait('r', 1))
      -- the urgent byte may lag the normal data: retry a bounded number of times
      local got, err, code
      for _ = 1, 50 do
        got, err, code = recvs(s, 1, clock() + 0.02, 'oob')
        if got then break end
        assert.is_true(code == 'EINVAL' or code == 'ETIMEDOUT' or code == 'EAGAIN', tostring(err) .. ' ' .. tostring(code))
      end
      assert.equal('!', got)
      -- the urgent byte is not in the normal stream
      assert.equal('abcd', recvn(s, 4))
      c:close(); s:close()
    end)

    it('sendall/recvall move 8 MB intact through an echo server', function()
      local c, s = H.pair()
      local N = 8 * 1024 * 1024
      local out = ffi.new('uint8_t[?]', N)
      local sum_out = 0
      local seed = 12345
      for i = 0, N - 1 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        local b = math.floor(seed / 65536) % 256
        out[i] = b
        sum_out = (sum_out * 31 + b) % 4294967291
      end
      local inb = ffi.new('uint8_t[?]', N)
      -- server: echo whatever arrives until EOF
      local echoed, echo_err = 0, nil
      socket.newthread(function()
        local buf = ffi.new('uint8_t[?]', 65536)
        while true do
          local n, err = s:recv(buf, 65536)
          if not n then echo_err = err break end
          if n == 0 then break end
          local ok, err2 = s:sendall(buf, n)
          if not ok then echo_err = err2 break end
          echoed = echoed + n
        end
        s:close()
      end)
      local sent, got, err1, err2
      socket.newthread(function()
        sent, err1 = c:sendall(out, N)
        c:shutdown('w')
      end)
      socket.newthread(function()
        got, err2 = c:recvall(inb, N)
      end)
      socket.start(30)
      assert.equal(N, sent, tostring(err1))
      assert.equal(N, got, tostring(err2))
      assert.is_nil(echo_err)
      assert.equal(N, echoed)
      local sum_in = 0
      for i = 0, N - 1 do sum_in = (sum_in * 31 + inb[i]) % 4294967291 end
      assert.equal(sum_out, sum_in)
      assert.equal(0, ffi.C.memcmp(out, inb, N))
      c:close()
    end)

    it('recvall: early EOF -> nil, closed, EOF, bytes received', function()
      local c, s = H.pair()
      assert.equal(10, c:send('0123456789'))
      c:close()
      local buf = ffi.new('uint8_t[100]')
      local ok, err, code, n = s:recvall(buf, 100)
      assert.is_nil(ok)
      assert.equal('closed', err)
      assert.equal('EOF', code)
      assert.equal(10, n)
      assert.equal('0123456789', ffi.string(buf, n))
      s:close()
    end)

    it('sendall of a cdata with an explicit length sends exactly that much', function()
      local c, s = H.pair()
      local buf = ffi.new('uint8_t[1000]')
      for i = 0, 999 do buf[i] = i % 256 end
      assert.equal(100, c:sendall(buf, 100))
      c:shutdown('w')
      local got = assert(recv_to_eof(s))
      assert.equal(100, #got)
      assert.equal(ffi.string(buf, 100), got)
      -- string form without a length: the whole string
      assert.equal(5, s:sendall('bytes'))
      assert.equal('bytes', recvn(c, 5))
      c:close(); s:close()
    end)

    it('misuse raises Lua errors naming the function and argument', function()
      local c, s = H.pair()
      assert.matches('recv', errmsg(c.recv, c, 'not a buffer', 4))
      assert.matches('#1', errmsg(c.recv, c, 'not a buffer', 4))
      assert.matches('recv', errmsg(c.recv, c, ffi.new('uint8_t[4]'), 8)) -- larger than buffer
      assert.matches('send', errmsg(c.send, c, {}))
      assert.matches('bogus', errmsg(c.setopt, c, 'bogus', 1))
      assert.matches('setopt', errmsg(c.setopt, c, 'nodelay', 'yes'))
      assert.matches('shutdown', errmsg(c.shutdown, c, 'x'))
      c:close()
      assert.matches('closed', errmsg(c.recv, c, ffi.new('uint8_t[4]'), 4))
      assert.matches('closed', errmsg(c.send, c, 'x'))
      assert.is_true(c:close()) -- closing twice is fine
      s:close()
    end)
  end)

  describe('timeouts', function()
    it('settimeout: recv -> nil, timeout, ETIMEDOUT and the socket stays usable', function()
      local c, s = H.pair()
      assert.is_true(s:settimeout(0.05))
      assert.equal(0.05, s:gettimeout())
      local buf = ffi.new('uint8_t[16]')
      local t0 = clock()
      local n, err, code = s:recv(buf, 16)
      local dt = clock() - t0
      assert.is_nil(n)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      assert.is_true(dt >= 0.045 and dt < 1, 'waited ' .. dt)
      -- again, still a timeout
      n, err = s:recv(buf, 16)
      assert.is_nil(n); assert.equal('timeout', err)
      -- data sent afterwards is received
      assert.equal(5, c:send('later'))
      assert.equal('later', recvn(s, 5))
      -- and from inside a thread too
      local got
      socket.newthread(function() got = recvn(s, 3) end)
      assert(c:send('thr'))
      socket.start()
      assert.equal('thr', got)
      c:close(); s:close()
    end)

    it('per-call deadline on recv', function()
      local c, s = H.pair()
      local buf = ffi.new('uint8_t[16]')
      local t0 = clock()
      local n, err, code = s:recv(buf, 16, clock() + 0.05)
      local dt = clock() - t0
      assert.is_nil(n)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      assert.is_true(dt >= 0.045 and dt < 1, 'waited ' .. dt)
      assert(c:send('ok'))
      assert.equal('ok', recvn(s, 2, clock() + 5))
      c:close(); s:close()
    end)
    it('settimeout(0): recv fails at once with timeout when nothing is there', function()
      local c, s = H.pair()
      assert(s:settimeout(0))
      local t0 = clock()
      local n, err, code = s:recv(ffi.new('uint8_t[4]'), 4)
      assert.is_nil(n); assert.equal('timeout', err); assert.equal('ETIMEDOUT', code)
      assert.is_true(clock() - t0 < 0.5)
      assert(c:send('now'))
      assert.is_true(s:wait('r', 1))
      assert.equal('now', recvs(s, 3))
      assert(s:settimeout(nil))
      assert.is_nil(s:gettimeout())
      assert.matches('settimeout', errmsg(s.settimeout, s, -1))
      c:close(); s:close()
    end)

    it('recvall timeout -> nil, timeout, ETIMEDOUT, bytes received; the rest still arrives', function()
      local c, s = H.pair()
      assert.equal(3, c:send('abc'))
      local buf = ffi.new('uint8_t[10]')
      local ok, err, code, n = s:recvall(buf, 10, clock() + 0.05)
      assert.is_nil(ok)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      assert.equal(3, n)
      assert.equal('abc', ffi.string(buf, 3))
      assert.equal(7, c:send('defghij'))
      assert.equal(7, s:recvall(buf + 3, 7))
      assert.equal('abcdefghij', ffi.string(buf, 10))
      c:close(); s:close()
    end)

    it('sendall timeout -> nil, timeout, ETIMEDOUT, bytes sent; the socket stays usable', function()
      local c, s = H.pair()
      assert(c:setopt('sndbuf', 4096))
      assert(s:setopt('rcvbuf', 4096))
      local N = 16 * 1024 * 1024
      local big = ffi.new('uint8_t[?]', N)
      local ok, err, code, sent = c:sendall(big, N, clock() + 0.05)
      assert.is_nil(ok)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      assert.is_true(sent > 0 and sent < N, 'sent ' .. tostring(sent))
      -- the peer drains what was sent; then more goes through
      local drained
      socket.newthread(function()
        local buf = ffi.new('uint8_t[65536]')
        local total = 0
        while total < sent + 5 do
          local n = assert(s:recv(buf, 65536))
          if n == 0 then break end
          total = total + n
        end
        drained = total
      end)
      assert.equal(5, c:sendall('tail!'))
      socket.start(10)
      assert.equal(sent + 5, drained)
      c:close(); s:close()
    end)

    it('a reset connection: recv -> nil, msg, ECONNRESET', function()
      H.skip_unless(not H.wine, 'Wine closes a socket with SO_LINGER 0 without a reset: the peer reads EOF')
      local c, s = H.pair()
      assert(s:setopt('linger', 0))
      s:close() -- linger 0: RST
      local n, err, code = c:recv(ffi.new('uint8_t[4]'), 4)
      assert.is_nil(n)
      assert.is_string(err)
      assert.equal('ECONNRESET', code)
      c:close()
    end)

    it('send to a closed peer fails with EPIPE/ECONNRESET, no SIGPIPE', function()
      local c, s = H.pair()
      s:close()
      local n, err, code
      for _ = 1, 100 do
        n, err, code = c:send('data')
        if not n then break end
        c:wait('r', 0.01) -- give the peer's RST a chance to arrive
      end
      assert.is_nil(n)
      assert.is_string(err)
      assert.is_true(code == 'EPIPE' or code == 'ECONNRESET', tostring(code))
      c:close()
    end)

  end)

  describe('close and concurrency', function()
    it('close() from another thread wakes a parked reader with nil, closed', function()
      local c, s = H.pair()
      local r1, r2
      local done = false
      socket.newthread(function()
        r1, r2 = c:recv(ffi.new('uint8_t[16]'), 16)
        done = true
      end)
      assert.is_false(done)
      socket.newthread(function()
        socket.sleep(0.01)
        c:close()
      end)
      socket.start(5)
      assert.is_true(done)
      assert.is_nil(r1)
      assert.equal('closed', r2)
      s:close()
    end)

    it('close() from another thread wakes a parked writer with nil, closed', function()
      local c, s = H.pair()
      assert(c:setopt('sndbuf', 4096))
      assert(s:setopt('rcvbuf', 4096))
      local chunk = ffi.new('uint8_t[65536]')
      local total, werr = 0, nil
      local done = false
      socket.newthread(function()
        for _ = 1, 100000 do
          local n, err = c:send(chunk, 65536)
          if not n then werr = err break end
          total = total + n
        end
        done = true
      end)
      -- on a completion backend (io_uring, IOCP) even the first send ends
      -- on a later turn of the loop: run it until the writer is parked
      for _ = 1, 50 do
        if total > 0 then break end
        socket.poll(0.1)
      end
      assert.is_false(done) -- parked: the peer does not read
      assert.is_true(total > 0)
      assert.equal(1, socket.stats().waiting)
      socket.newthread(function() c:close() end)
      socket.start(5)
      assert.is_true(done)
      assert.equal('closed', werr)
      s:close()
    end)

    it('a second concurrent reader gets a Lua error mentioning already', function()
      local c, s = H.pair()
      local first, second_ok, second_err
      socket.newthread(function() first = recvs(c, 16) end)
      socket.newthread(function()
        second_ok, second_err = pcall(c.recv, c, ffi.new('uint8_t[16]'), 16)
      end)
      assert.is_false(second_ok)
      assert.matches('already', tostring(second_err))
      assert.matches('recv', tostring(second_err))
      -- the first reader was not disturbed
      assert(s:send('first'))
      socket.start(5)
      assert.equal('first', first)
      c:close(); s:close()
    end)

    it('a second concurrent writer gets a Lua error mentioning already', function()
      local c, s = H.pair()
      assert(c:setopt('sndbuf', 4096))
      local chunk = ffi.new('uint8_t[65536]')
      local werr
      socket.newthread(function()
        while true do
          local n, err = c:send(chunk, 65536)
          if not n then werr = err break end
        end
      end)
      local ok, err = pcall(c.send, c, 'x')
      assert.is_false(ok)
      assert.matches('already', tostring(err))
      c:close()
      socket.start(5)
      assert.equal('closed', werr)
      s:close()
    end)

    it('shutdown(\'w\'): the peer reads EOF, the other direction still works', function()
      local c, s = H.pair()
      assert(c:send('last'))
      assert.is_true(c:shutdown('w'))
      assert.equal('last', recv_to_eof(s))
      assert.equal(0, s:recv(ffi.new('uint8_t[4]'), 4))
      -- half-close: s -> c still flows
      assert.equal(5, s:send('reply'))
      assert.equal('reply', recvn(c, 5))
      s:close()
      assert.equal(0, c:recv(ffi.new('uint8_t[4]'), 4))
      c:close()
    end)

    it('200 concurrent connections each echo a unique message', function()
      local l, port = H.listener()
      local N = 200
      local served = 0
      socket.newthread(function()
        for _ = 1, N do
          local s = assert(l:accept())
          socket.newthread(function()
            local buf = ffi.new('uint8_t[256]')
            while true do
              local n = assert(s:recv(buf, 256))
              if n == 0 then break end
              assert(s:sendall(buf, n))
            end
            s:close()
            served = served + 1
          end)
        end
        l:close()
      end)
      local ok, bad = 0, {}
      for i = 1, N do
        socket.newthread(function()
          local c = assert(socket.tcp())
          assert(c:connect('127.0.0.1', port))
          local msg = ('client %d says %s'):format(i, ('x'):rep(i % 50))
          assert(c:sendall(msg))
          assert(c:shutdown('w'))
          local got = recv_to_eof(c)
          c:close()
          if got == msg then ok = ok + 1 else bad[#bad + 1] = i end
        end)
      end
      assert.is_true(socket.start(30))
      assert.equal(N, ok, 'bad: ' .. table.concat(bad, ','))
      assert.equal(N, served)
      assert.is_true(l:closed())
    end)
  end)

  describe('addresses and options', function()
    it('getpeername/getsockname return sa objects', function()
      local c, s = H.pair()
      local cl, cp = c:getsockname(), c:getpeername()
      local sl, sp = s:getsockname(), s:getpeername()
      assert.equal('127.0.0.1', cl:ip())
      assert.equal(cl:port(), sp:port())
      assert.equal(cp:port(), sl:port())
      assert.is_true(cl == sp)
      assert.is_true(cp == sl)
      assert.is_false(cl == cp)
      assert.equal('inet', cp:family())
      assert.equal(cp:tostring(), '127.0.0.1:' .. cp:port())
      c:close(); s:close()
    end)

    it('getpeername on an unconnected socket -> nil, msg, ENOTCONN', function()
      local c = assert(socket.tcp())
      local sa, err, code = c:getpeername()
      assert.is_nil(sa)
      assert.is_string(err)
      assert.equal('ENOTCONN', code)
      c:close()
    end)

    it('setopt/getopt round-trips', function()
      local c, s = H.pair()
      for _, name in ipairs{'nodelay', 'keepalive', 'reuseaddr', 'reuseport'} do
        -- (Windows has no SO_REUSEPORT: there the name is unknown)
        if name == 'reuseport' and not require'socket2.os'.SOCKOPT.reuseport then break end
        assert.is_true(c:setopt(name, true), name)
        assert.is_true(c:getopt(name), name)
        assert.is_true(c:setopt(name, false), name)
        assert.is_false(c:getopt(name), name)
      end
      assert.is_true(c:setopt('rcvbuf', 65536))
      assert.is_true(c:getopt('rcvbuf') >= 65536)
      assert.is_true(c:setopt('sndbuf', 32768))
      assert.is_true(c:getopt('sndbuf') >= 32768)
      assert.is_true(c:setopt('linger', 5))
      assert.equal(5, c:getopt('linger'))
      assert.is_true(c:setopt('linger', 0))
      assert.equal(0, c:getopt('linger'))
      assert.is_true(c:setopt('linger', false))
      assert.is_false(c:getopt('linger'))
      assert.is_nil(c:getopt('error'))
      assert.equal('tcp', c:getopt('type'))
      assert.is_false(c:getopt('acceptconn'))
      assert.matches('read%-only', errmsg(c.setopt, c, 'type', 1))
      c:close(); s:close()
    end)

    it('v6only round-trips on an inet6 socket', function()
      local c = socket.tcp('inet6')
      if not c then pending('no IPv6 sockets here') return end
      assert.is_true(c:setopt('v6only', true))
      assert.is_true(c:getopt('v6only'))
      assert.is_true(c:setopt('v6only', false))
      assert.is_false(c:getopt('v6only'))
      c:close()
    end)

    it('fileno() returns a number; tostring(sock) works', function()
      local c = assert(socket.tcp())
      assert.is_number(c:fileno())
      assert.is_true(c:fileno() >= 0)
      assert.equal('socket2.tcp: fd ' .. c:fileno(), tostring(c))
      assert.equal('tcp', c:type())
      assert.equal('inet', c:family())
      assert.equal('tcp', c:kind())
      c:close()
      assert.equal('socket2.tcp: closed', tostring(c))
      assert.is_true(c:closed())
    end)
  end)

  describe('release and wrap', function()
    it('release() returns the fd, wrap(fd, \'tcp\') gives a working socket', function()
      local c, s = H.pair()
      -- make sure c is registered with the loop first (it has waited)
      local got
      socket.newthread(function() got = recvs(c, 2) end)
      assert(s:send('hi'))
      socket.start(5)
      assert.equal('hi', got)
      local fd0 = c:fileno()
      local fd = c:release()
      assert.equal(fd0, fd)
      assert.is_true(c:closed())
      assert.matches('closed', errmsg(c.send, c, 'x'))
      assert.matches('wrap', errmsg(socket.wrap, fd, 'udp'))
      local w = assert(socket.wrap(fd, 'tcp'))
      assert.equal('tcp', w:kind())
      assert.equal(fd, w:fileno())
      assert.equal(s:getsockname(), w:getpeername())
      assert.equal(4, w:send('ping'))
      assert.equal('ping', recvn(s, 4))
      -- the wrapped socket waits through the loop as usual
      socket.newthread(function() got = recvs(w, 4) end)
      assert(s:send('pong'))
      socket.start(5)
      assert.equal('pong', got)
      w:close(); s:close()
    end)

    it('wrap(fd) without a kind detects tcp', function()
      local c, s = H.pair()
      local w = assert(socket.wrap(c:release()))
      assert.equal('tcp', w:kind())
      assert(w:send('x'))
      assert.equal('x', recvn(s, 1))
      w:close(); s:close()
    end)
  end)

  describe('readiness', function()
    it('wait(\'r\', timeout): nil, timeout without data, true when data arrives', function()
      local c, s = H.pair()
      local ok, err, code = s:wait('r', 0.05)
      assert.is_nil(ok)
      assert.equal('timeout', err)
      assert.equal('ETIMEDOUT', code)
      local res
      socket.newthread(function() res = {s:wait('r', 5)} end)
      assert.is_nil(res)
      assert(c:send('x'))
      socket.start(5)
      assert.same({true}, res)
      assert.equal('x', recvs(s, 1))
      assert.is_true(c:wait('w', 1))
      assert.matches('wait', errmsg(s.wait, s, 'x'))
      c:close(); s:close()
    end)

    it('close() wakes a thread parked in wait()', function()
      local c, s = H.pair()
      local res
      socket.newthread(function() res = {s:wait('r')} end)
      assert.is_nil(res)
      socket.newthread(function() s:close() end)
      socket.start(5)
      assert.is_nil(res[1])
      assert.equal('closed', res[2])
      c:close()
    end)

    it('nread() equals the bytes the peer sent', function()
      local c, s = H.pair()
      assert.equal(0, s:nread())
      local N = 1000
      assert.equal(N, c:send(('n'):rep(N)))
      assert.is_true(s:wait('r', 1))
      assert.equal(N, s:nread())
      assert.equal(N, #recvn(s, N))
      assert.equal(0, s:nread())
      c:close(); s:close()
    end)
  end)

  it('a zero-length recv returns 0 at once; it does not wait', function()
    local c, s = H.pair()
    local t0 = socket.clock()
    assert.equal(0, c:recv(ffi.new'uint8_t[1]', 0, 5))
    assert.is_true(socket.clock() - t0 < 1)
    c:close(); s:close()
  end)

  it('a numeric address of the other family is named as such', function()
    local s4, s6 = assert(socket.tcp()), assert(socket.tcp('inet6'))
    local ok, err, code = s4:connect('::1', 80)
    assert.is_nil(ok); assert.equal('EAFNOSUPPORT', code); assert.matches('IPv6 address', err)
    ok, err, code = s6:connect('127.0.0.1', 80)
    assert.is_nil(ok); assert.equal('EAFNOSUPPORT', code); assert.matches('IPv4 address', err)
    s4:close(); s6:close()
  end)
end)
