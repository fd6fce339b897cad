-- spec/io/parity_spec.lua: what the reactor path (epoll, kqueue) and the
-- proactor path (io_uring, IOCP) must do alike, for every call that waits:
-- parking and waking (close, cancel, release under a parked call), a
-- timeout racing the data (a buffer is never written after its call
-- returned, nothing is lost), many threads at once, blocking callers
-- outside any thread. The API of each socket kind is in tcp_spec, udp_spec
-- and unix_spec; every spec runs on every backend. Loopback only, port 0;
-- timeouts are short and no check depends on how long anything takes.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')

-- Runs the loop until cond() is true (a hang fails the test).
local poll_until = H.wait_until

local function buf_of(s)
  local b = ffi.new('uint8_t[?]', #s)
  ffi.copy(b, s, #s)
  return b
end


describe('socket I/O (' .. socket.backend .. ')', function()
  after_each(H.no_leaks)

  describe('tcp', function()
    it('connects, accepts and moves bytes both ways', function()
      local l, port = H.listener()
      local server, remote, localsa
      socket.newthread(function() server, remote, localsa = assert(l:accept()) end)
      local c = assert(socket.tcp())
      assert.is_true(c:connect('127.0.0.1', port))
      poll_until(function() return server end, nil, 'accept')
      assert.equal(c:getsockname():port(), remote:port())
      assert.equal(port, localsa:port())
      assert.equal('127.0.0.1', c:getpeername():ip())
      assert.equal(5, c:send('hello'))
      local buf = ffi.new'uint8_t[16]'
      assert.equal(5, server:recv(buf, 16))
      assert.equal('hello', ffi.string(buf, 5))
      assert.equal(3, server:send(buf_of'abc', 3))
      assert.equal(3, c:recv(buf, 16))
      assert.equal('abc', ffi.string(buf, 3))
      c:close(); server:close(); l:close()
    end)

    it('recv returns 0 at EOF (peer closed, or shut down for writing)', function()
      local c, s = H.pair()
      local buf = ffi.new'uint8_t[8]'
      assert.is_true(c:shutdown('w'))
      assert.equal(0, s:recv(buf, 8))
      assert.equal(2, s:send('ok'))
      assert.equal(2, c:recv(buf, 8))
      s:close()
      assert.equal(0, c:recv(buf, 8))
      c:close()
    end)

    it('sendall and recvall move 4 MB between two threads', function()
      local c, s = H.pair()
      local N = 4 * 1024 * 1024
      local out = ffi.new('uint8_t[?]', N)
      for i = 0, N - 1 do out[i] = (i * 7 + 3) % 251 end
      local sent
      socket.newthread(function() sent = {c:sendall(out, N)} end)
      local inb = ffi.new('uint8_t[?]', N)
      assert.equal(N, s:recvall(inb, N))
      poll_until(function() return sent end, nil, 'sendall')
      assert.equal(N, sent[1])
      assert.equal(0, ffi.C.memcmp(out, inb, N))
      c:close(); s:close()
    end)

    it('a receive timeout returns nil, timeout and the socket stays usable', function()
      local c, s = H.pair()
      local buf = ffi.new'uint8_t[8]'
      local n, err, code = s:recv(buf, 8, socket.clock() + 0.02)
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {n, err, code})
      s:settimeout(0.02)
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {s:recv(buf, 8)})
      assert.equal(0.02, s:gettimeout())
      s:settimeout(nil)
      assert.equal(3, c:send('xyz'))
      assert.equal(3, s:recv(buf, 8))
      assert.equal('xyz', ffi.string(buf, 3))
      c:close(); s:close()
    end)

    it('a timed-out receive never writes the buffer later and never loses data', function()
      local c, s = H.pair()
      for round = 1, 20 do
        local buf = ffi.new'uint8_t[8]'
        local got
        -- in one turn of the loop, first the peer sends (a plain send(2)),
        -- then the receive's deadline passes: on a completion backend the
        -- receive has completed in the kernel but its completion is not
        -- harvested yet. Either the data is returned, or it stays for the
        -- next call and the buffer is never written afterwards.
        local msg = 'r' .. round % 10
        local t0 = socket.clock()
        socket.newthread(function()
          socket.sleep_until(t0 - 1)
          local sys = require'socket2.os'
          assert(sys.C.send(c:fileno(), msg, 2, sys.MSG_NOSIGNAL) == 2)
        end)
        socket.newthread(function() got = {s:recv(buf, 8, t0)} end)
        poll_until(function() return got end, nil, 'the receive')
        if got[1] == nil then
          assert.same({nil, 'timeout', 'ETIMEDOUT'}, got)
          ffi.fill(buf, 8, 0xAA)
          local again = ffi.new'uint8_t[8]'
          assert.equal(2, s:recv(again, 8))
          assert.equal(msg, ffi.string(again, 2))
          for i = 0, 7 do assert.equal(0xAA, buf[i]) end
        else
          assert.equal(2, got[1])
          assert.equal(msg, ffi.string(buf, 2))
        end
      end
      c:close(); s:close()
    end)

    it('closing a listener whose accept has just completed leaks no descriptor', function()
      H.skip_unless(not H.windows, 'counts descriptors in /proc/self/fd and uses libc socket calls (Linux)')
      local lfs = require'lfs'
      local function nfds()
        local n = 0
        for _ in lfs.dir('/proc/self/fd') do n = n + 1 end
        return n
      end
      local C, sys = ffi.C, require'socket2.os'
      for _ = 1, 5 do
        local l, port = H.listener()
        local before = nfds()
        local got
        socket.newthread(function() got = {l:accept()} end)
        -- a plain blocking connect: the kernel completes the handshake (and,
        -- on a completion backend, the pending accept) before the loop runs
        local fd = C.socket(sys.AF.inet, sys.SOCK.stream, 0)
        local sa = socket.sockaddr('127.0.0.1', port)
        assert.equal(0, C.connect(fd, ffi.cast('struct sockaddr*', sa), sa.len))
        l:close()
        poll_until(function() return got end, nil, 'the accept')
        assert.same({nil, 'closed', 'ECANCELED'}, {got[1], got[2], got[3]})
        C.close(fd)
        assert.equal(before - 1, nfds()) -- the listener's own descriptor went
      end
    end)

    it('close wakes a thread parked in recv with nil, closed', function()
      local c, s = H.pair()
      local got
      socket.newthread(function() got = {s:recv(ffi.new'uint8_t[8]', 8)} end)
      assert.is_nil(got)
      s:close()
      poll_until(function() return got end, nil, 'the woken receive')
      assert.is_nil(got[1])
      assert.equal('closed', got[2])
      c:close()
    end)

    it('close wakes a thread parked in accept', function()
      local l = H.listener()
      local got
      socket.newthread(function() got = {l:accept()} end)
      l:close()
      poll_until(function() return got end, nil, 'the woken accept')
      assert.is_nil(got[1])
      assert.equal('closed', got[2])
    end)

    it('close wakes a thread parked in send on a full connection', function()
      local c, s = H.pair()
      assert.is_true(c:setopt('sndbuf', 4096))
      assert.is_true(s:setopt('rcvbuf', 4096))
      local big = ffi.new('uint8_t[?]', 1024 * 1024)
      local got
      socket.newthread(function() got = {c:sendall(big, 1024 * 1024)} end)
      assert.is_nil(got) -- the peer reads nothing: the sender is parked
      c:close()
      poll_until(function() return got end, nil, 'the woken send')
      assert.is_nil(got[1])
      assert.equal('closed', got[2])
      assert.is_number(got[4])
      s:close()
    end)

    it('a second thread reading the same socket is a misuse error', function()
      local c, s = H.pair()
      local got
      socket.newthread(function() got = {s:recv(ffi.new'uint8_t[8]', 8)} end)
      assert.has_error(function() s:recv(ffi.new'uint8_t[8]', 8) end)
      assert.has_error(function() s:wait('r', 0.01) end)
      assert.equal(1, c:send('z'))
      poll_until(function() return got end, nil, 'the first receive')
      assert.equal(1, got[1])
      c:close(); s:close()
    end)

    it('connect to a closed port is ECONNREFUSED', function()
      local l, port = H.listener()
      l:close()
      local c = assert(socket.tcp())
      local ok, err, code = c:connect('127.0.0.1', port)
      assert.is_nil(ok)
      assert.is_string(err)
      assert.equal('ECONNREFUSED', code)
      c:close()
    end)

    it('accept times out, then accepts', function()
      local l, port = H.listener()
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {l:accept(socket.clock() + 0.02)})
      local c = assert(socket.tcp())
      assert(c:connect('127.0.0.1', port))
      local a = assert(l:accept(socket.clock() + 5))
      a:close(); c:close(); l:close()
    end)

    it('accepts many connections from many threads at once', function()
      local l, port = H.listener()
      local N, served, done = 40, 0, 0
      socket.newthread(function()
        for _ = 1, N do
          local a = assert(l:accept())
          socket.newthread(function()
            local buf = ffi.new'uint8_t[64]'
            local n = assert(a:recv(buf, 64))
            assert(a:sendall(buf, n))
            a:close()
            served = served + 1
          end)
        end
      end)
      for i = 1, N do
        socket.newthread(function()
          local c = assert(socket.tcp())
          assert(c:connect('127.0.0.1', port))
          local msg = 'client ' .. i
          assert(c:sendall(msg))
          local buf = ffi.new'uint8_t[64]'
          local n = assert(c:recvall(buf, #msg))
          assert(ffi.string(buf, n) == msg)
          assert(c:recv(buf, 64) == 0)
          c:close()
          done = done + 1
        end)
      end
      poll_until(function() return done == N and served == N end, nil, 'all clients')
      l:close()
    end)

    it('wait() reports readability and writability; nread counts bytes', function()
      local c, s = H.pair()
      assert.is_true(c:wait('w', 1))
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {s:wait('r', 0.02)})
      assert.equal(0, s:nread())
      socket.newthread(function() socket.sleep(0.01); c:send('12345') end)
      assert.is_true(s:wait('r', 5))
      assert.equal(5, s:nread())
      assert.is_true(s:wait('r')) -- still readable: nothing was read
      local buf = ffi.new'uint8_t[8]'
      assert.equal(5, s:recv(buf, 8))
      c:close()
      assert.is_true(s:wait('r', 5)) -- EOF is readable
      assert.equal(0, s:recv(buf, 8))
      s:close()
    end)

    it('close wakes a thread parked in wait()', function()
      local c, s = H.pair()
      local got
      socket.newthread(function() got = {s:wait('r')} end)
      s:close()
      poll_until(function() return got end, nil, 'the woken wait')
      assert.is_nil(got[1])
      assert.equal('closed', got[2])
      c:close()
    end)

    it("recv with 'peek' leaves the data; 'oob' reads urgent data", function()
      local c, s = H.pair()
      local buf = ffi.new'uint8_t[8]'
      assert.equal(4, c:send('peek'))
      assert.equal(4, s:recv(buf, 8, nil, 'peek'))
      assert.equal(4, s:recv(buf, 8))
      assert.equal('peek', ffi.string(buf, 4))
      -- loopback delivers during the send, so the urgent byte is there now
      assert.equal(1, c:send('!', 1, nil, 'oob'))
      local n = s:recv(buf, 1, socket.clock() + 5, 'oob')
      assert.equal(1, n)
      assert.equal('!', ffi.string(buf, 1))
      c:close(); s:close()
    end)

    it('release() hands the descriptor over; wrap() adopts it and I/O goes on', function()
      local c, s = H.pair()
      local fd = s:release()
      assert.is_true(s:closed())
      local w = assert(socket.wrap(fd, 'tcp'))
      assert.equal(3, c:send('abc'))
      local buf = ffi.new'uint8_t[8]'
      assert.equal(3, w:recv(buf, 8))
      assert.equal(2, w:send('ok'))
      assert.equal(2, c:recv(buf, 8))
      w:close(); c:close()
    end)

    it('release() wakes a thread parked on the socket', function()
      local c, s = H.pair()
      local got
      socket.newthread(function() got = {s:recv(ffi.new'uint8_t[8]', 8)} end)
      local fd = s:release()
      poll_until(function() return got end, nil, 'the woken receive')
      assert.equal('closed', got[2])
      local w = assert(socket.wrap(fd))
      assert.equal(1, c:send('q'))
      assert.equal(1, w:recv(ffi.new'uint8_t[8]', 8))
      w:close(); c:close()
    end)

    it('blocks a plain caller (outside any thread) while the loop runs others', function()
      local c, s = H.pair()
      socket.newthread(function() socket.sleep(0.01); c:send('late') end)
      local buf = ffi.new'uint8_t[8]'
      assert.equal(4, s:recv(buf, 8)) -- not a socket2 thread: blocks
      assert.equal('late', ffi.string(buf, 4))
      c:close(); s:close()
    end)

    it('streams read lines across many small sends', function()
      local c, s = H.pair()
      socket.newthread(function()
        for i = 1, 50 do assert(c:send('line ' .. i .. '\r\n')) end
        c:close()
      end)
      local st = socket.stream(s)
      for i = 1, 50 do assert.equal('line ' .. i, st:readline()) end
      assert.same({nil, 'closed', 'EOF'}, {st:readline()})
      s:close()
    end)

    it('works over IPv6 loopback when there is one', function()
      if not H.has_ipv6() then pending('no ::1 here') return end
      local c, s = H.pair('inet6')
      assert.equal(2, c:send('v6'))
      local buf = ffi.new'uint8_t[4]'
      assert.equal(2, s:recv(buf, 4))
      assert.equal('::1', s:getpeername():ip())
      c:close(); s:close()
    end)
  end)

  describe('udp', function()
    it('sends to an address and receives with the sender address', function()
      local a, b = assert(socket.udp()), assert(socket.udp())
      assert(a:bind('127.0.0.1', 0))
      assert(b:bind('127.0.0.1', 0))
      local pa, pb = a:getsockname():port(), b:getsockname():port()
      assert.equal(4, a:send('ping', nil, '127.0.0.1', pb))
      local buf = ffi.new'uint8_t[16]'
      local n, from = b:recv(buf, 16)
      assert.equal(4, n)
      assert.equal('ping', ffi.string(buf, 4))
      assert.equal(pa, from:port())
      -- reply to the sa we got, then recvfrom into our own sa
      assert.equal(4, b:send('pong', nil, from))
      local sa = socket.sockaddr('0.0.0.0', 0)
      assert.equal(4, a:recvfrom(buf, 16, sa))
      assert.equal(pb, sa:port())
      assert.equal('127.0.0.1', sa:ip())
      a:close(); b:close()
    end)

    it('connected udp: send/recv without addresses; zero-length datagrams', function()
      local a, b = assert(socket.udp()), assert(socket.udp())
      assert(a:bind('127.0.0.1', 0)); assert(b:bind('127.0.0.1', 0))
      assert(a:connect('127.0.0.1', b:getsockname():port()))
      assert(b:connect('127.0.0.1', a:getsockname():port()))
      assert.equal(3, a:send('one'))
      assert.equal(0, a:send(''))
      local buf = ffi.new'uint8_t[8]'
      assert.equal(3, (b:recv(buf, 8)))
      assert.equal(0, (b:recv(buf, 8)))
      assert.equal(2, b:send('up'))
      assert.equal(2, (a:recvfrom(buf, 8, nil)))
      assert.is_true(a:disconnect())
      a:close(); b:close()
    end)

    it('recvfrom times out, then receives', function()
      local a = assert(socket.udp())
      assert(a:bind('127.0.0.1', 0))
      local buf = ffi.new'uint8_t[8]'
      local sa = socket.sockaddr('0.0.0.0', 0)
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {a:recvfrom(buf, 8, sa, socket.clock() + 0.02)})
      local b = assert(socket.udp())
      assert.equal(1, b:send('x', nil, a:getsockname()))
      assert.equal(1, a:recvfrom(buf, 8, sa, socket.clock() + 5))
      assert.equal(b:getsockname():port(), sa:port())
      a:close(); b:close()
    end)

    it('close wakes a thread parked in recv', function()
      local a = assert(socket.udp())
      assert(a:bind('127.0.0.1', 0))
      local got
      socket.newthread(function() got = {a:recv(ffi.new'uint8_t[8]', 8)} end)
      a:close()
      poll_until(function() return got end, nil, 'the woken receive')
      assert.equal('closed', got[2])
    end)

    it('many datagrams from several threads all arrive', function()
      local r = assert(socket.udp())
      assert(r:bind('127.0.0.1', 0))
      local to = r:getsockname()
      local N, senders = 50, 4
      for t = 1, senders do
        socket.newthread(function()
          local u = assert(socket.udp())
          for i = 1, N do assert(u:send(('%d:%d'):format(t, i), nil, to)) end
          u:close()
        end)
      end
      local seen, buf = {}, ffi.new'uint8_t[32]'
      local sa = socket.sockaddr('0.0.0.0', 0)
      for _ = 1, N * senders do
        local n = assert(r:recvfrom(buf, 32, sa, socket.clock() + 5))
        seen[ffi.string(buf, n)] = true
      end
      local count = 0
      for _ in pairs(seen) do count = count + 1 end
      assert.equal(N * senders, count)
      r:close()
    end)
  end)

  describe('unix', function()
    it('stream sockets on a path and on an abstract name', function()
      H.skip_unless(require'socket2.os'.ABSTRACT_UNIX, 'no abstract unix names on this OS')
      H.skip_unless(H.has_unix(), H.NO_UNIX)
      for _, path in ipairs{H.tmppath'.us', '\0' .. H.tmppath'.abs'} do
        local l = assert(socket.unix())
        assert(l:listen(path))
        local a
        socket.newthread(function() a = assert(l:accept()) end)
        local c = assert(socket.unix())
        assert(c:connect(path))
        poll_until(function() return a end, nil, 'accept')
        assert.equal(4, c:send('unix'))
        local buf = ffi.new'uint8_t[8]'
        assert.equal(4, a:recv(buf, 8))
        assert.equal('unix', ffi.string(buf, 4))
        a:close(); c:close(); l:close()
        if path:byte(1) ~= 0 then os.remove(path) end
      end
    end)

    it('datagram sockets send to a path and see the sender path', function()
      H.skip_unless(H.has_unix(), H.NO_UNIX)
      local pa, pb = H.tmppath'.da', H.tmppath'.db'
      local a, b = assert(socket.unix('dgram')), assert(socket.unix('dgram'))
      assert(a:bind(pa)); assert(b:bind(pb))
      assert.equal(5, a:send('hello', nil, pb))
      local buf = ffi.new'uint8_t[8]'
      local n, from = b:recv(buf, 8)
      assert.equal(5, n)
      assert.equal(pa, from:tostring())
      a:close(); b:close()
      os.remove(pa); os.remove(pb)
    end)
  end)
end)
