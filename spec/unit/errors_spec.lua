-- spec/unit/errors_spec.lua: the error convention. A programming mistake (bad
-- argument, unknown name, a closed socket object) raises a Lua error that
-- names the function and the argument; a runtime failure returns nil,
-- message, code with a portable code ('EADDRINUSE', 'ECONNREFUSED', ...).
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local THIS_FILE = debug.getinfo(1, 'S').short_src

local err_of = H.err_of

-- asserts that f(...) raises an error whose message matches every pattern
local raises = H.raises

local pack = H.pack

-- a free loopback port: bind to port 0, note it, close
local function free_port()
  local s = assert(socket.tcp())
  assert(s:bind('127.0.0.1', 0))
  local port = s:getsockname():port()
  s:close()
  return port
end

describe('errors', function()
  describe('the code table', function()
    it('README lists every portable code with its message, and no other', function()
      local errors = require'socket2.errors'
      local f = assert(io.open(H.ROOT .. '/README.md', 'rb'))
      local text = f:read'*a'
      f:close()
      local section = assert(text:match'\n### Error codes\n(.-)\n#', 'README has an "Error codes" section')
      local listed = {}
      for code, msg in section:gmatch'\n| `([%w_]+)` | ([^|]-) |' do listed[code] = msg end
      assert.same(errors.codes(), listed)
    end)

    it('errors.fail refuses a code that is not in the table', function()
      local errors = require'socket2.errors'
      assert.same({nil, 'line too long', 'EMSGSIZE'}, {errors.fail('EMSGSIZE', 'line too long')})
      assert.same({nil, 'connection refused', 'ECONNREFUSED'}, {errors.fail('ECONNREFUSED')})
      H.raises('unknown error code', errors.fail, 'ECONNREFUZED')
    end)

    it('every condition socket2 detects has its constructor', function()
      local errors = require'socket2.errors'
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {errors.timeout()})
      assert.same({nil, 'closed', 'ECANCELED'}, {errors.closed()})
      assert.same({nil, 'canceled', 'ECANCELED'}, {errors.canceled()})
      assert.same({nil, 'would block', 'EAGAIN'}, {errors.would_block()})
      assert.same({nil, 'connection in progress', 'EINPROGRESS'}, {errors.in_progress()})
      assert.same({nil, 'closed', 'EOF'}, {errors.eof()})
      for _, c in ipairs{'ETIMEDOUT', 'ECANCELED', 'EAGAIN', 'EINPROGRESS', 'EOF'} do
        assert.is_string(errors.codes()[c])
      end
    end)
  end)

  after_each(H.no_leaks)

  describe('bad ports', function()
    local bad = {-1, 70000, 'abc', 1.5, 65536}

    it('tcp:connect names connect and the port', function()
      local s = assert(socket.tcp())
      for _, p in ipairs(bad) do
        raises({"bad argument #2 to 'connect'", 'port'}, s.connect, s, '127.0.0.1', p)
      end
      s:close()
    end)

    it('tcp:bind names bind and the port', function()
      local s = assert(socket.tcp())
      for _, p in ipairs(bad) do
        raises({"bad argument #2 to 'bind'", 'port'}, s.bind, s, '127.0.0.1', p)
      end
      s:close()
    end)

    it('tcp:listen names the port', function()
      local s = assert(socket.tcp())
      for _, p in ipairs(bad) do
        raises({'port'}, s.listen, s, '127.0.0.1', p)
      end
      s:close()
    end)

    it('udp:send and udp:connect name the function and the port', function()
      local u = assert(socket.udp())
      for _, p in ipairs(bad) do
        raises({"bad argument #4 to 'send'", 'port'}, u.send, u, 'x', nil, '127.0.0.1', p)
        raises({"'connect'", 'port'}, u.connect, u, '127.0.0.1', p)
      end
      u:close()
    end)

    it('socket.addr and socket.sockaddr name themselves and the port', function()
      for _, p in ipairs(bad) do
        if not (type(p) == 'string' and p:find'^%a') then -- (addr takes service names)
          raises({"bad argument #2 to 'addr'", 'port'}, socket.addr, '127.0.0.1', p)
        end
        raises({"bad argument #2 to 'sockaddr'", 'port'}, socket.sockaddr, '127.0.0.1', p)
      end
    end)

    it("a digit string port is fine", function()
      local u = assert(socket.udp())
      assert.is_true(u:bind('127.0.0.1', '0'))
      u:close()
    end)
  end)

  describe('unknown names', function()
    it('an unknown family is a Lua error naming the constructor', function()
      raises({"bad argument #1 to 'tcp'", 'inet7'}, socket.tcp, 'inet7')
      raises({"bad argument #1 to 'udp'", 'inet7'}, socket.udp, 'inet7')
      raises({"bad argument #1 to 'raw'", 'inet7'}, socket.raw, 'inet7')
      raises({"bad argument #4 to 'addr'", 'inet7'}, socket.addr, '127.0.0.1', 80, 'tcp', 'inet7')
      -- a known family that makes no sense for the kind of socket
      raises({"bad argument #1 to 'tcp'"}, socket.tcp, 'unix')
      raises({"bad argument #1 to 'udp'"}, socket.udp, 'unix')
    end)

    it('an unknown socket type or protocol is a Lua error', function()
      raises({"bad argument #1 to 'unix'", 'datagram'}, socket.unix, 'datagram')
      raises({"bad argument #3 to 'addr'", 'tcpx'}, socket.addr, '127.0.0.1', 80, 'tcpx')
      raises({"bad argument #2 to 'tcp'", 'sctpx'}, socket.tcp, 'inet', 'sctpx')
      raises({"bad argument #2 to 'raw'", 'icmpx'}, socket.raw, 'inet', 'icmpx')
      raises({"bad argument #5 to 'addr'", 'nope'}, socket.addr, '127.0.0.1', 80, 'tcp', 'inet', 'nope')
    end)

    it('an unknown option name is a Lua error from setopt and getopt', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'setopt'", 'nosuchopt'}, s.setopt, s, 'nosuchopt', true)
      raises({"bad argument #1 to 'getopt'", 'nosuchopt'}, s.getopt, s, 'nosuchopt')
      raises({"'setopt'"}, s.setopt, s, nil, true)
      raises({"'getopt'"}, s.getopt, s, 42)
      s:close()
    end)

    it('an unknown send/recv flag is a Lua error', function()
      local u = assert(socket.udp())
      local buf = ffi.new('uint8_t[16]')
      raises({"'recvfrom'", 'bogus'}, u.recvfrom, u, buf, 16, nil, nil, 'bogus')
      raises({"'send'", 'bogus'}, u.send, u, 'x', nil, '127.0.0.1', 9, nil, 'bogus')
      u:close()
    end)
  end)

  describe('buffers and lengths', function()
    local buf16 = ffi.new('uint8_t[16]')

    it('tcp recv refuses a length larger than the cdata buffer, or negative', function()
      local s = assert(socket.tcp())
      raises({"bad argument #2 to 'recv'", '17', '16'}, s.recv, s, buf16, 17)
      raises({"bad argument #2 to 'recv'"}, s.recv, s, buf16, -1)
      raises({"bad argument #2 to 'recv'"}, s.recv, s, buf16, 1.5)
      raises({"bad argument #2 to 'recv'"}, s.recv, s, buf16, nil)
      raises({"bad argument #2 to 'recv'"}, s.recv, s, buf16, 0/0)
      s:close()
    end)

    it('the length check also holds for buffers exactly as big as a pointer', function()
      -- an 8-byte array has the sizeof of a pointer; it is still an array
      -- whose size is known, and reading 9 bytes into it overflows it
      local s = assert(socket.tcp())
      local u = assert(socket.udp())
      -- (a deadline in the past: if the check is missing the call must
      -- still return rather than wait)
      local past = socket.clock() - 1
      local cases = {
        {'recv', s.recv, s, ffi.new('uint8_t[8]'), 9, past},
        {'recv', s.recv, s, ffi.new('char[8]'), 100, past},
        {'recv', s.recv, s, ffi.new('uint64_t[1]'), 9, past},
        {'recv', s.recv, s, ffi.new('struct { uint8_t b[8]; }'), 9, past},
        {'send', s.send, s, ffi.new('uint8_t[8]'), 9, past},
        {'recvfrom', u.recvfrom, u, ffi.new('uint8_t[8]'), 9, nil, past},
      }
      local missed = {}
      for _, c in ipairs(cases) do
        local ok, err = pcall(c[2], c[3], c[4], c[5], c[6], c[7])
        if ok then
          missed[#missed + 1] = ('%s(%s, %d)'):format(c[1], tostring(ffi.typeof(c[4])), c[5])
        else
          assert.matches("bad argument #2 to '" .. c[1] .. "'", err)
        end
      end
      -- a pointer has no known size: any length is the caller's promise
      local big = ffi.new('uint8_t[64]')
      local ok, _, code = s:recv(ffi.cast('uint8_t*', big), 64)
      assert.is_nil(ok)
      assert.equal('ENOTCONN', code)
      s:close()
      u:close()
      if #missed > 0 then
        pending('BUG: no length check for 8-byte (pointer-sized) buffers, the kernel writes past them: '
          .. table.concat(missed, ', '))
      end
    end)

    it('tcp recv refuses a string or a table as the buffer', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'recv'", 'cdata'}, s.recv, s, 'a string', 8)
      raises({"bad argument #1 to 'recv'", 'cdata'}, s.recv, s, {}, 8)
      raises({"bad argument #1 to 'recv'", 'cdata'}, s.recv, s, nil, 8)
      s:close()
    end)

    it('tcp recvall checks the buffer too', function()
      local s = assert(socket.tcp())
      raises({"bad argument #2 to 'recvall'"}, s.recvall, s, buf16, 17)
      raises({"bad argument #1 to 'recvall'"}, s.recvall, s, 'str', 3)
      s:close()
    end)

    it('udp recv refuses a bad length or buffer, naming recv', function()
      local u = assert(socket.udp())
      local msgs = {
        raises({"bad argument #2", '17'}, u.recv, u, buf16, 17),
        raises({"bad argument #2"}, u.recv, u, buf16, -1),
        raises({"bad argument #1", 'cdata'}, u.recv, u, 'string', 3),
      }
      u:close()
      for _, msg in ipairs(msgs) do
        if not msg:find"'recv'" then
          pending('BUG: udp:recv argument errors name \'recvfrom\' instead of \'recv\': ' .. msg)
        end
      end
    end)

    it('udp recvfrom checks buffer, length and the sa', function()
      local u = assert(socket.udp())
      raises({"bad argument #2 to 'recvfrom'"}, u.recvfrom, u, buf16, 17)
      raises({"bad argument #1 to 'recvfrom'"}, u.recvfrom, u, 'string', 3)
      raises({"bad argument #3 to 'recvfrom'", 'sockaddr'}, u.recvfrom, u, buf16, 16, '127.0.0.1')
      u:close()
    end)

    it('send refuses a table, number, boolean or nil', function()
      local s = assert(socket.tcp())
      local u = assert(socket.udp())
      for _, v in ipairs{{}, 42, true, false} do
        raises({"bad argument #1 to 'send'", 'string or cdata'}, s.send, s, v)
        raises({"bad argument #1 to 'send'", 'string or cdata'}, u.send, u, v, nil, '127.0.0.1', 9)
      end
      raises({"bad argument #1 to 'send'"}, s.send, s, nil)
      raises({"bad argument #1 to 'send'"}, u.send, u, nil, nil, '127.0.0.1', 9)
      raises({"bad argument #1 to 'sendall'"}, s.sendall, s, {})
      s:close()
      u:close()
    end)

    it('send refuses a length beyond the string, or negative, or beyond a cdata buffer', function()
      local s = assert(socket.tcp())
      local u = assert(socket.udp())
      raises({"bad argument #2 to 'send'"}, s.send, s, 'abc', 4)
      raises({"bad argument #2 to 'send'"}, s.send, s, 'abc', -1)
      raises({"bad argument #2 to 'send'"}, s.send, s, 'abc', 1.5)
      raises({"bad argument #2 to 'send'"}, s.send, s, buf16, 17)
      raises({"bad argument #2 to 'send'"}, s.send, s, buf16) -- cdata needs a length
      raises({"bad argument #2 to 'send'"}, u.send, u, 'abc', 4, '127.0.0.1', 9)
      raises({"bad argument #2 to 'sendall'"}, s.sendall, s, 'abc', 4)
      s:close()
      u:close()
    end)

    it('a bad deadline is a Lua error', function()
      local s = assert(socket.tcp())
      local u = assert(socket.udp())
      raises({"bad argument #3 to 'recv'", 'timeout'}, s.recv, s, buf16, 16, 'soon')
      raises({"bad argument #3 to 'send'", 'timeout'}, s.send, s, 'x', 1, 'soon')
      raises({"bad argument #1 to 'accept'", 'timeout'}, s.accept, s, 'soon')
      raises({"bad argument #4 to 'recvfrom'", 'timeout'}, u.recvfrom, u, buf16, 16, nil, 'soon')
      s:close()
      u:close()
    end)
  end)

  describe('closed sockets', function()
    it('every operation on a closed tcp socket is a Lua error mentioning closed', function()
      local s = assert(socket.tcp())
      assert.is_true(s:close())
      local buf = ffi.new('uint8_t[8]')
      local calls = {
        recv = function() return s:recv(buf, 8) end,
        send = function() return s:send('x') end,
        sendall = function() return s:sendall('x') end,
        recvall = function() return s:recvall(buf, 8) end,
        connect = function() return s:connect('127.0.0.1', 9) end,
        bind = function() return s:bind('127.0.0.1', 0) end,
        listen = function() return s:listen('127.0.0.1', 0) end,
        accept = function() return s:accept() end,
        setopt = function() return s:setopt('nodelay', true) end,
        getopt = function() return s:getopt('nodelay') end,
        getsockname = function() return s:getsockname() end,
        getpeername = function() return s:getpeername() end,
        fileno = function() return s:fileno() end,
        shutdown = function() return s:shutdown('w') end,
        settimeout = function() return s:settimeout(1) end,
        wait = function() return s:wait('r', 0) end,
        nread = function() return s:nread() end,
        release = function() return s:release() end,
      }
      for name, f in pairs(calls) do
        local msg = err_of(f)
        assert.truthy(msg:find(name, 1, true), name .. ': ' .. msg)
        assert.truthy(msg:find('closed', 1, true), name .. ': ' .. msg)
      end
      assert.is_true(s:closed())
    end)

    it('every operation on a closed udp socket is a Lua error mentioning closed', function()
      local u = assert(socket.udp())
      assert.is_true(u:close())
      local buf = ffi.new('uint8_t[8]')
      local calls = {
        recv = function() return u:recv(buf, 8) end,
        recvfrom = function() return u:recvfrom(buf, 8) end,
        send = function() return u:send('x', nil, '127.0.0.1', 9) end,
        connect = function() return u:connect('127.0.0.1', 9) end,
        disconnect = function() return u:disconnect() end,
        bind = function() return u:bind('127.0.0.1', 0) end,
        setopt = function() return u:setopt('broadcast', true) end,
        getopt = function() return u:getopt('broadcast') end,
        getsockname = function() return u:getsockname() end,
        fileno = function() return u:fileno() end,
      }
      for name, f in pairs(calls) do
        local msg = err_of(f)
        assert.truthy(msg:find('closed', 1, true), name .. ': ' .. msg)
      end
    end)

    it('close() twice returns true both times', function()
      local s = assert(socket.tcp())
      assert.is_true(s:close())
      assert.is_true(s:close())
      local u = assert(socket.udp())
      assert.is_true(u:close())
      assert.is_true(u:close())
    end)

    it('a method called with . instead of : is a Lua error, not a crash', function()
      local s = assert(socket.tcp())
      local buf = ffi.new('uint8_t[8]')
      raises({'recv', 'socket expected'}, s.recv, buf, 8)
      raises({'send', 'socket expected'}, s.send, 'x')
      raises({'connect', 'socket expected'}, s.connect, '127.0.0.1', 80)
      s:close()
    end)
  end)

  describe('runtime failures', function()
    it('listen on a port in use returns nil, msg, EADDRINUSE', function()
      local l, port = H.listener()
      local s = assert(socket.tcp())
      local r = pack(s:listen('127.0.0.1', port))
      assert.equal(3, r.n)
      assert.is_nil(r[1])
      assert.equal('address already in use', r[2])
      assert.equal('EADDRINUSE', r[3])
      s:close()
      l:close()
    end)

    it('bind to a port in use returns nil, msg, EADDRINUSE', function()
      local l, port = H.listener()
      local s = assert(socket.tcp())
      local ok, err, code = s:bind('127.0.0.1', port)
      assert.is_nil(ok)
      assert.is_string(err)
      assert.equal('EADDRINUSE', code)
      s:close()
      l:close()
    end)

    it('bind to an address that is not local returns nil, msg, EADDRNOTAVAIL', function()
      local s = assert(socket.tcp())
      local ok, err, code = s:bind('192.0.2.254', 0) -- TEST-NET-1, not ours
      if ok then
        s:close()
        pending('192.0.2.254 is a local address here')
        return
      end
      assert.is_string(err)
      assert.equal('EADDRNOTAVAIL', code)
      s:close()
    end)

    it('connect to a closed port returns nil, connection refused, ECONNREFUSED', function()
      local port = free_port()
      local c = assert(socket.tcp())
      local r = pack(c:connect('127.0.0.1', port))
      assert.same({n = 3, nil, 'connection refused', 'ECONNREFUSED'}, r)
      c:close()
    end)

    it('connect refused inside a thread is the same', function()
      local port = free_port()
      local r = socket.run(function()
        local c = assert(socket.tcp())
        local res = pack(c:connect('127.0.0.1', port))
        c:close()
        return res
      end)
      assert.same({n = 3, nil, 'connection refused', 'ECONNREFUSED'}, r)
    end)

    it('recv on an unconnected tcp socket returns nil, msg, ENOTCONN', function()
      local s = assert(socket.tcp())
      local ok, err, code = s:recv(ffi.new('uint8_t[8]'), 8)
      assert.is_nil(ok)
      assert.is_string(err)
      assert.equal('ENOTCONN', code)
      s:close()
    end)

    it('send after the peer closed returns nil, msg, EPIPE or ECONNRESET, never a signal', function()
      local c, s = H.pair()
      s:close()
      local code
      for _ = 1, 100 do
        local n, err, cd = c:send(('x'):rep(1024))
        if not n then
          assert.is_string(err)
          code = cd
          break
        end
      end
      assert.truthy(code == 'EPIPE' or code == 'ECONNRESET', tostring(code))
      c:close()
    end)

    it("getopt('error') is nil on a fresh socket", function()
      local s = assert(socket.tcp())
      assert.is_nil(s:getopt('error'))
      assert.equal(1, select('#', s:getopt('error')))
      s:close()
    end)
  end)

  it('udp sockets have no accept method', function()
    local u = assert(socket.udp())
    assert.is_nil(u.accept)
    assert.is_nil(u.listen)
    assert.has_error(function() u:accept() end)
    u:close()
  end)

  it('blocking I/O from the test body works after stop() and start() returned', function()
    local l, port = H.listener()
    local accepted
    -- a server parked in accept, and a thread that stops the loop
    socket.newthread(function()
      local c = assert(l:accept())
      accepted = c
    end)
    socket.newthread(function()
      socket.sleep(0.001)
      socket.stop()
    end)
    assert.is_true(socket.start(10))
    assert.is_nil(accepted) -- start returned because of stop(), not because it was done
    assert.equal(1, socket.stats().waiting)
    -- blocking calls drive the loop themselves: the parked server runs too
    local c = assert(socket.tcp())
    assert.is_true(c:connect('127.0.0.1', port))
    assert.equal(5, c:send('hello'))
    while not accepted do socket.poll(1) end
    local buf = ffi.new('uint8_t[16]')
    assert.equal(5, accepted:recv(buf, 16))
    assert.equal('hello', ffi.string(buf, 5))
    -- and start() runs normally again afterwards
    socket.newthread(function() socket.sleep(0.001) end)
    assert.is_true(socket.start(10))
    accepted:close()
    c:close()
    l:close()
  end)

  describe('option values', function()
    it('a bool option refuses a number, an int option a string, linger a negative', function()
      local s = assert(socket.tcp())
      raises({"bad argument #2 to 'setopt'", 'nodelay', 'boolean'}, s.setopt, s, 'nodelay', 1)
      raises({"bad argument #2 to 'setopt'", 'nodelay'}, s.setopt, s, 'nodelay', nil)
      raises({"bad argument #2 to 'setopt'", 'rcvbuf', 'integer'}, s.setopt, s, 'rcvbuf', 'x')
      raises({"bad argument #2 to 'setopt'", 'rcvbuf'}, s.setopt, s, 'rcvbuf', 1.5)
      raises({"bad argument #2 to 'setopt'", 'rcvbuf'}, s.setopt, s, 'rcvbuf', true)
      raises({"bad argument #2 to 'setopt'", 'linger'}, s.setopt, s, 'linger', -1)
      raises({"bad argument #2 to 'setopt'", 'linger'}, s.setopt, s, 'linger', true)
      raises({"bad argument #2 to 'setopt'", 'linger'}, s.setopt, s, 'linger', 'x')
      -- the good values work
      assert.is_true(s:setopt('nodelay', true))
      assert.is_true(s:getopt('nodelay'))
      assert.is_true(s:setopt('linger', 5))
      assert.equal(5, s:getopt('linger'))
      assert.is_true(s:setopt('linger', false))
      assert.is_false(s:getopt('linger'))
      s:close()
    end)

    it('read-only options cannot be set', function()
      local s = assert(socket.tcp())
      for _, name in ipairs{'error', 'type', 'acceptconn'} do
        raises({"bad argument #1 to 'setopt'", name, 'read%-only'}, s.setopt, s, name, 0)
      end
      s:close()
    end)

    it('an option of the wrong level for the socket returns nil, msg, code', function()
      local u = assert(socket.udp())
      local ok, err, code = u:setopt('nodelay', true) -- a tcp option on udp
      assert.is_nil(ok)
      assert.is_string(err)
      assert.is_string(code)
      u:close()
    end)
  end)

  describe('other arguments', function()
    it('settimeout refuses a negative or non-number timeout', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'settimeout'"}, s.settimeout, s, -1)
      raises({"bad argument #1 to 'settimeout'"}, s.settimeout, s, 'x')
      raises({"bad argument #1 to 'settimeout'"}, s.settimeout, s, 0/0)
      assert.is_true(s:settimeout(0))
      assert.is_true(s:settimeout(nil))
      s:close()
    end)

    it('wait refuses an unknown direction and a bad timeout', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'wait'"}, s.wait, s, 'x')
      raises({"bad argument #1 to 'wait'"}, s.wait, s, nil)
      raises({"bad argument #2 to 'wait'"}, s.wait, s, 'r', 'soon')
      s:close()
    end)

    it('shutdown refuses an unknown direction', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'shutdown'"}, s.shutdown, s, 'x')
      raises({"bad argument #1 to 'shutdown'"}, s.shutdown, s, 'rwx')
      s:close()
    end)

    it('listen refuses a bad backlog', function()
      local s = assert(socket.tcp())
      raises({"bad argument #1 to 'listen'", 'backlog'}, s.listen, s, -1, '127.0.0.1', 0)
      raises({"'listen'", 'backlog'}, s.listen, s, '127.0.0.1', 0, 'many')
      s:close()
    end)

    it('sleep, sleep_until and run refuse what they cannot use', function()
      raises({"bad argument #1 to 'sleep'"}, socket.sleep, 'x')
      raises({"bad argument #1 to 'sleep'"}, socket.sleep, nil)
      raises({"bad argument #1 to 'sleep_until'"}, socket.sleep_until, 'x')
      raises({"bad argument #1 to 'run'"}, socket.run, nil)
      raises({"bad argument #1 to 'run'"}, socket.run, 'print')
    end)

    it('suspend outside a thread and resume of a thread that is not suspended are Lua errors', function()
      raises({'suspend'}, socket.suspend)
      local co = socket.newthread(function() end)
      raises({'resume'}, socket.resume, co)
    end)

    it('socket.wrap refuses what is not a descriptor', function()
      raises({"bad argument #1 to 'wrap'"}, socket.wrap, 'x')
      raises({"bad argument #1 to 'wrap'"}, socket.wrap, -1)
      raises({"bad argument #1 to 'wrap'"}, socket.wrap, 1.5)
    end)

    it('socket.wrap of a descriptor that is no socket returns nil, msg, ENOTSOCK', function()
      -- the loop's epoll (kqueue) fd or IOCP handle is certainly not a socket
      local s, err, code = socket.wrap(require'socket2.sched'.handle())
      assert.is_nil(s)
      assert.is_string(err)
      assert.equal('ENOTSOCK', code)
    end)
  end)

  describe('kernel object handles', function()
    -- each backend has its getter; the others are Lua errors naming
    -- themselves and the backend in use
    local getters = {epoll = 'epoll_fd', kqueue = 'kqueue_fd', iocp = 'iocp', io_uring = 'io_uring_fd'}
    local mine = getters[socket.backend]

    for _, backend in ipairs{'epoll', 'kqueue', 'iocp', 'io_uring'} do
      local name = getters[backend]
      if backend ~= socket.backend then
        it(('socket.%s() is a Lua error with the %s backend, naming %s'):format(
            name, socket.backend, name), function()
          raises({name, socket.backend}, socket[name])
          raises({name}, socket[name], 5)
        end)
      end
    end

    it(('socket.%s() returns the loop handle'):format(mine), function()
      local fd = socket[mine]()
      assert.is_number(fd)
      assert.is_true(fd >= 0)
      assert.equal(fd, socket[mine]())
      raises({mine}, socket[mine], 'x')
      -- sharing a handle after the loop is open is a Lua error too
      raises({'already open'}, socket[mine], fd)
    end)
  end)

  describe('error positions', function()
    -- a misuse error should point at the line that made the mistake, as
    -- error(msg, 2) does for Lua's own functions
    it('point at the caller of the socket2 function', function()
      local s = assert(socket.tcp())
      local u = assert(socket.udp())
      local buf = ffi.new('uint8_t[16]')
      local cases = {
        settimeout = function() s:settimeout(-1) end,
        setopt = function() s:setopt('nosuchopt', 1) end,
        shutdown = function() s:shutdown('x') end,
        sleep = function() socket.sleep('x') end,
        recv = function() s:recv(buf, 17) end,
        send = function() s:send({}) end,
        connect = function() s:connect('127.0.0.1', -1) end,
        tcp = function() socket.tcp('inet7') end,
        addr = function() socket.addr('127.0.0.1', -1) end,
        udp_send = function() u:send('x', nil, '127.0.0.1', -1) end,
        udp_recv = function() u:recv(buf, 17) end,
      }
      local wrong = {}
      for name, f in pairs(cases) do
        local msg = err_of(f)
        if msg:sub(1, #THIS_FILE + 1) ~= THIS_FILE .. ':' then
          wrong[#wrong + 1] = name .. ' -> ' .. msg:match'^[^:]*:%d*'
        end
      end
      s:close()
      u:close()
      table.sort(wrong)
      if #wrong > 0 then
        pending('BUG: misuse errors raised below a helper point inside socket2, not at the caller: '
          .. table.concat(wrong, '; '))
      end
    end)
  end)
end)
