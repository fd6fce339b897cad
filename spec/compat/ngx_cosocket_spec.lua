-- spec/compat/ngx_cosocket_spec.lua: the cosocket API of socket2.ngx in
-- detail (lua-nginx-module README, "ngx.socket.tcp" to
-- "tcpsock:getreusedtimes", "ngx.socket.udp"), against peers that are
-- socket2 threads in this process: it runs wherever socket2 runs.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

-- A server thread: accepts one connection and runs f(client socket) on it.
local function serve(f)
  local l, port = H.listener()
  local done = false
  socket.newthread(function()
    local c = l:accept()
    l:close()
    if c then f(c) end
    if c and not c:closed() then c:close() end
    done = true
  end)
  return port, function() return done end
end

-- Inside a thread: waits until pred() (H.wait_until runs the loop: not
-- from inside it).
local function await(pred)
  local t0 = socket.clock()
  while not pred() do
    socket.sleep(0.005)
    assert(socket.clock() - t0 < 10 * H.SLOW, 'timed out waiting')
  end
end

-- a connected cosocket to a server running f
local function pair(f, timeout_ms)
  local port, done = serve(f)
  local sock = ngx.socket.tcp()
  sock:settimeout(timeout_ms or 2000)
  assert.equal(1, sock:connect('127.0.0.1', port))
  return sock, done
end

describe('compat: socket2.ngx cosockets', function()
  after_each(S.clean)

  describe('receive', function()
    it("'*l' strips every CR; a line at EOF comes back as the partial data of 'closed'", function()
      socket.run(function()
        local sock, done = pair(function(c) assert(c:sendall('a\rb\r\nline2\nno end')) end)
        assert.equal('ab', sock:receive())
        assert.equal('line2', sock:receive('*l'))
        assert.same({nil, 'closed', 'no end'}, {sock:receive()})
        assert.same({nil, 'closed'}, {sock:receive()}) -- EOF closed the connection
        assert.same({nil, 'closed'}, {sock:close()})
        await(done)
      end)
    end)

    it('a size (numbers and numeric strings), 0, a bad pattern, \'*a\'', function()
      socket.run(function()
        local sock = pair(function(c) assert(c:sendall('0123456789abcdef')) end)
        assert.equal('', sock:receive(0))
        assert.equal('0123', sock:receive(4))
        assert.equal('45', sock:receive('2'))
        H.raises('bad number argument', sock.receive, sock, -1)
        H.raises('bad pattern argument: %*x', sock.receive, sock, '*x')
        H.raises('receive: expecting 1 or 2 arguments', sock.receive, sock, 1, 2)
        assert.equal('6789abcdef', sock:receive('*a'))
        sock:close()
      end)
    end)

    it('a read timeout returns the partial data and is not fatal: the connection reads on', function()
      socket.run(function()
        local go = false
        local sock = pair(function(c)
          assert(c:sendall('par'))
          while not go do socket.sleep(0.01) end
          assert(c:sendall('tial\nrest'))
          socket.sleep(0.05)
        end, 50)
        local t0 = socket.clock()
        assert.same({nil, 'timeout', 'par'}, {sock:receive()})
        assert.is_true(socket.clock() - t0 >= 0.045)
        go = true
        sock:settimeout(2000)
        assert.equal('tial', sock:receive())
        assert.same({nil, 'closed', 'rest'}, {sock:receive(10)})
      end)
    end)

    it('receiveany returns what is there, at most max', function()
      socket.run(function()
        local sock, done = pair(function(c) assert(c:sendall('hello world')); socket.sleep(0.05) end)
        socket.sleep(0.02)
        assert.equal('hello', sock:receiveany(5))
        assert.equal(' world', sock:receiveany(100))
        H.raises('bad max argument', sock.receiveany, sock, 0)
        sock:close()
        await(done)
      end)
    end)
  end)

  describe('receiveuntil', function()
    local STREAM = 'hello, world! -agentzh\r\n--abcedhb blah blah'

    it('the README example: data before the pattern, then the rest', function()
      socket.run(function()
        local sock = pair(function(c) assert(c:sendall(STREAM)) end)
        local reader = sock:receiveuntil('\r\n--abcedhb')
        assert.equal('hello, world! -agentzh', reader())
        assert.equal(' blah blah', sock:receive('*a'))
      end)
    end)

    it('with a size: hell|o, w|orld|! -a|gent|zh, then nil, nil, then it starts over', function()
      socket.run(function()
        local sock = pair(function(c)
          -- in small pieces, the pattern split across them
          for i = 1, #STREAM, 3 do assert(c:sendall(STREAM:sub(i, i + 2))); socket.sleep(0.001) end
          assert(c:sendall('second\r\n--abcedhb'))
        end)
        local reader = sock:receiveuntil('\r\n--abcedhb')
        local got = {}
        while true do
          local data, err = reader(4)
          assert.is_nil(err)
          if not data then break end
          got[#got + 1] = data
        end
        assert.same({'hell', 'o, w', 'orld', '! -a', 'gent', 'zh'}, got)
        assert.equal(' blah blahsecond', reader()) -- reset: the next call reads to the next pattern
        sock:close()
      end)
    end)

    it('inclusive; a pattern that overlaps itself; mixed with receive', function()
      socket.run(function()
        local sock = pair(function(c) assert(c:sendall('hello world _END_ blah\naaab tail')) end)
        local r = sock:receiveuntil('_END_', {inclusive = true})
        assert.equal('hello world _END_', r())
        assert.equal(' blah', sock:receive())
        assert.equal('a', sock:receiveuntil('aab')())
        assert.equal(' tail', sock:receive('*a'))
        assert.same({nil, 'pattern is empty'}, {sock:receiveuntil('')})
        H.raises('bad "inclusive" option value type', sock.receiveuntil, sock, 'x', {inclusive = 1})
      end)
    end)

    it('an error returns the data before it as partial; bytes that may start the pattern stay back', function()
      socket.run(function()
        local sock, done = pair(function(c) assert(c:sendall('abc\r\n--ab')); socket.sleep(0.2) end, 50)
        local r = sock:receiveuntil('\r\n--abcedhb')
        assert.same({nil, 'timeout', 'abc'}, {r()})
        sock:close()
        await(done)
      end)
    end)
  end)

  describe('send', function()
    it('strings, numbers, booleans, nested arrays; a bad element raises', function()
      socket.run(function()
        local got
        local sock = pair(function(c)
          local st = socket.stream(c)
          got = st:read(31)
        end)
        assert.equal(5, sock:send('hello'))
        assert.equal(2, sock:send(42))
        assert.equal(4, sock:send(true))
        assert.equal(3, sock:send(nil))
        assert.equal(17, sock:send({'a', {'b', {'c', 1.5}}, '|', {}, {{'deep', 'er'}}, 7, 'xyz'}))
        H.raises('bad data type boolean found', sock.send, sock, {'a', true})
        H.raises('array table expected, got function', sock.send, sock, print)
        assert.equal(0, sock:send(''))
        sock:close()
        assert.same({nil, 'closed'}, {sock:send('x')})
        await(function() return got end)
        assert.equal('hello42truenilabc1.5|deeper7xyz', got)
      end)
    end)
  end)

  describe('timeouts', function()
    it('milliseconds; what is no number or 0 means the default; a negative value raises', function()
      local sock = ngx.socket.tcp()
      sock:settimeout(150)
      assert.equal(0.15, sock.rt)
      sock:settimeout('200')
      assert.equal(0.2, sock.rt)
      sock:settimeout({}) -- (redis-connector passes a table by mistake: nginx shrugs)
      assert.is_false(sock.rt)
      sock:settimeout(nil)
      assert.is_false(sock.rt)
      sock:settimeout(0)
      assert.is_false(sock.ct)
      H.raises('bad timeout value', sock.settimeout, sock, -1)
      H.raises('bad timeout value', sock.settimeout, sock, 2 ^ 31)
      H.raises('expecting 2 arguments', sock.settimeout, sock)
      sock:settimeouts(100, 200, 300)
      assert.same({0.1, 0.2, 0.3}, {sock.ct, sock.st, sock.rt})
      H.raises('expecting 4 arguments', sock.settimeouts, sock, 1, 2)
    end)

    it('the default comes from conf (lua_socket_read_timeout)', function()
      socket.run(function()
        local old = ngx.socket2.conf.read_timeout
        ngx.socket2.conf.read_timeout = 30
        local sock, done = pair(function() socket.sleep(0.2) end)
        sock:settimeout(0)
        local t0 = socket.clock()
        assert.same({nil, 'timeout', ''}, {sock:receive()})
        assert.is_true(socket.clock() - t0 < 0.15 * H.SLOW)
        ngx.socket2.conf.read_timeout = old
        sock:close()
        await(done)
      end)
    end)
  end)

  describe('connections', function()
    it('close, getreusedtimes and receive on a closed object: nil, closed; connect again works', function()
      socket.run(function()
        local port1 = serve(function(c) assert(c:sendall('one\n')) end)
        local port2 = serve(function(c) assert(c:sendall('two\n')) end)
        local sock = ngx.socket.tcp()
        assert.same({nil, 'closed'}, {sock:getreusedtimes()})
        assert.same({nil, 'closed'}, {sock:receive()})
        assert.equal(1, sock:connect('127.0.0.1', port1))
        assert.equal(0, sock:getreusedtimes())
        assert.equal('one', sock:receive())
        assert.equal(1, sock:connect('127.0.0.1', port2)) -- closes the first one
        assert.equal('two', sock:receive())
        assert.equal(1, sock:close())
        assert.same({nil, 'closed'}, {sock:close()})
        assert.same({nil, 'connection refused'}, {sock:connect('127.0.0.1', port1)})
        H.raises('bad argument #2 to \'connect\'', sock.connect, sock, '127.0.0.1', {})
        assert.same({nil, 'bad port number: 70000'}, {sock:connect('127.0.0.1', 70000)})
      end)
    end)

    it('one reader at a time: a second one gets socket busy reading', function()
      socket.run(function()
        local sock, done = pair(function(c) socket.sleep(0.1); assert(c:sendall('x\n')) end)
        local first
        socket.newthread(function() first = {sock:receive()} end)
        assert.same({nil, 'socket busy reading'}, {sock:receive()})
        assert.same({nil, 'socket busy reading'}, {sock:setkeepalive()})
        await(function() return first end)
        assert.same({'x'}, first)
        sock:close()
        await(done)
      end)
    end)

    it('a unix socket path', function()
      H.skip_unless(H.has_unix(), H.NO_UNIX)
      socket.run(function()
        local path = H.tmppath('.sock')
        local l = assert(socket.unix())
        assert(l:listen(path))
        socket.newthread(function()
          local c = l:accept()
          assert(c:sendall('over unix\n'))
          c:close()
        end)
        local sock = ngx.socket.tcp()
        assert.equal(1, sock:connect('unix:' .. path))
        assert.equal('over unix', sock:receive())
        sock:close()
        l:close()
      end)
    end)

    it('ngx.socket.connect; setoption; getfd', function()
      socket.run(function()
        local port = serve(function(c) assert(c:sendall('hi\n')) end)
        local sock = assert(ngx.socket.connect('127.0.0.1', port))
        assert.is_true(sock:setoption('tcp-nodelay', true))
        assert.is_true(sock:setoption('keepalive', 1))
        assert.same({nil, 'unsupported option nope'}, {sock:setoption('nope', 1)})
        assert.is_number(sock:getfd())
        assert.equal('hi', sock:receive())
        sock:close()
        assert.same({nil, 'connection refused'}, {ngx.socket.connect('127.0.0.1', S.free_port())})
      end)
    end)

    it('a forgotten cosocket is closed by the GC', function()
      socket.run(function()
        local eof
        local port = serve(function(c)
          local n = c:recv(require'ffi'.new'uint8_t[1]', 1)
          eof = n == 0
        end)
        do
          local sock = ngx.socket.tcp()
          assert.equal(1, sock:connect('127.0.0.1', port))
        end
        collectgarbage(); collectgarbage()
        await(function() return eof ~= nil end)
        assert.is_true(eof)
      end)
    end)
  end)

  describe('the pool', function()
    it('pool_size + backlog: connects above the size wait for a connection to come back', function()
      socket.run(function()
        local l, port = H.listener()
        local accepted = 0
        socket.newthread(function()
          while true do
            local c = l:accept()
            if not c then break end
            accepted = accepted + 1
            socket.newthread(function()
              local buf = require'ffi'.new'uint8_t[16]'
              while (c:recv(buf, 16) or 0) > 0 do end
              c:close()
            end)
          end
        end)
        local opts = {pool = 'backlog-test', pool_size = 1, backlog = 1}
        local a = ngx.socket.tcp()
        assert.equal(1, a:connect('127.0.0.1', port, opts))
        local b_res
        local b = ngx.socket.tcp()
        socket.newthread(function() b_res = {b:connect('127.0.0.1', port, opts)} end)
        assert.is_nil(b_res) -- queued
        local c = ngx.socket.tcp()
        assert.same({nil, 'too many waiting connect operations'}, {c:connect('127.0.0.1', port, opts)})
        assert.equal(1, a:setkeepalive()) -- b takes it
        await(function() return b_res end)
        assert.same({1}, b_res)
        assert.equal(1, b:getreusedtimes())
        assert.equal(1, accepted)
        -- a queued connect times out after the connect timeout
        c:settimeout(50)
        assert.same({nil, 'timeout'}, {c:connect('127.0.0.1', port, opts)})
        b:close() -- frees the slot: a new connect opens a new connection
        assert.equal(1, c:connect('127.0.0.1', port, opts))
        assert.equal(0, c:getreusedtimes())
        c:close()
        l:close()
      end)
    end)
  end)

  describe('udp', function()
    it('setpeername, send (a table too), receive, timeout, close', function()
      socket.run(function()
        local u, port = H.udp_bound()
        socket.newthread(function()
          local buf = require'ffi'.new'uint8_t[100]'
          local n, from = u:recv(buf, 100)
          assert(u:send(buf, n, from))
          assert(u:send('0123456789', nil, from))
        end)
        local sock = ngx.socket.udp()
        assert.equal(1, sock:setpeername('127.0.0.1', port))
        sock:settimeout(2000)
        assert.equal(1, sock:send({'ping', {' ', 1}}))
        assert.equal('ping 1', sock:receive())
        assert.equal('0123', sock:receive(4)) -- a longer datagram: its first bytes
        sock:settimeout(30)
        assert.same({nil, 'timeout'}, {sock:receive(10)})
        assert.equal(1, sock:close())
        assert.same({nil, 'closed'}, {sock:close()})
        assert.same({nil, 'closed'}, {sock:send('x')})
        u:close()
      end)
    end)

    it('a closed port: connection refused', function()
      H.skip_unless(not H.wine, 'Wine reports an ICMP port unreachable with error code 0')
      socket.run(function()
        local sock = ngx.socket.udp()
        assert.equal(1, sock:setpeername('127.0.0.1', S.free_port()))
        sock:settimeout(2000)
        assert.equal(1, sock:send('anyone?'))
        assert.same({nil, 'connection refused'}, {sock:receive()})
        sock:close()
      end)
    end)
  end)
end)
