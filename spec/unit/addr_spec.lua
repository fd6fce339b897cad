-- spec/unit/addr_spec.lua: socket.addr (getaddrinfo lists), socket.sockaddr
-- (numeric and unix addresses), name/port formatting and validation, byte
-- order helpers, and lookups that do not stall the loop. Only numeric
-- addresses, 'localhost' and invalid names with 'numerichost' are resolved:
-- no query ever goes to a nameserver.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

-- pcall f(...) and return the error message (fails when f did not raise)
local err_of = H.err_of

local function list(ai)
  local t = {}
  for a in ai:addrs() do t[#t + 1] = a end
  return t
end

local function strings(ai)
  local t = {}
  for a in ai:addrs() do t[#t + 1] = a:tostring() end
  return t
end

local function contains(t, v)
  for _, x in ipairs(t) do if x == v then return true end end
  return false
end

describe('addresses', function()
  after_each(H.no_leaks)

  describe('socket.addr', function()
    it('resolves a numeric IPv4 address', function()
      local ai = assert(socket.addr('127.0.0.1', 80))
      assert.equal('inet', ai:family())
      assert.equal('tcp', ai:type())
      assert.equal('tcp', ai:protocol())
      assert.equal('127.0.0.1:80', ai:tostring())
      assert.equal('127.0.0.1:80', tostring(ai))
      assert.is_nil(ai:next())
      assert.is_nil(ai:name())
      ai:free()
    end)

    it('resolves a numeric IPv6 address', function()
      local ai = assert(socket.addr('::1', 443))
      assert.equal('inet6', ai:family())
      assert.equal('[::1]:443', ai:tostring())
      assert.equal('::1', ai.addr:ip())
      assert.equal(443, ai.addr:port())
      ai:free()
    end)

    it('honours type and family for a numeric address', function()
      local ai = assert(socket.addr('127.0.0.1', 53, 'udp', 'inet'))
      assert.equal('udp', ai:type())
      assert.equal('udp', ai:protocol())
      assert.equal('inet', ai:family())
      ai:free()
      -- an IPv4 literal asked for as inet6 is not an inet6 address
      local a, err, code = socket.addr('127.0.0.1', 53, 'udp', 'inet6')
      assert.is_nil(a)
      assert.is_string(err)
      assert.is_string(code)
      assert.truthy(code:find'^EAI_', 'code ' .. code)
    end)

    it("gives the passive any-address for '*' and nil", function()
      for _, host in ipairs{'*', false} do
        local ai = assert(socket.addr(host or nil, 8080))
        local t = strings(ai)
        assert.is_true(#t >= 1)
        for _, s in ipairs(t) do
          assert.truthy(s == '0.0.0.0:8080' or s == '[::]:8080', s)
        end
        assert.is_true(contains(t, '0.0.0.0:8080'))
        ai:free()
        local ai4 = assert(socket.addr(host or nil, 8080, 'tcp', 'inet'))
        assert.same({'0.0.0.0:8080'}, strings(ai4))
        local ai6 = assert(socket.addr(host or nil, 8080, 'tcp', 'inet6'))
        assert.same({'[::]:8080'}, strings(ai6))
      end
    end)

    it("resolves 'localhost' (from /etc/hosts) to 127.0.0.1", function()
      local ai = assert(socket.addr('localhost', 80))
      local t = strings(ai)
      assert.is_true(contains(t, '127.0.0.1:80'), table.concat(t, ' '))
      for a in ai:addrs() do
        assert.equal('tcp', a:type())
        assert.truthy(a:family() == 'inet' or a:family() == 'inet6')
      end
      ai:free()
      local ai4 = assert(socket.addr('localhost', 80, 'tcp', 'inet'))
      assert.same({'127.0.0.1:80'}, strings(ai4))
    end)

    local PER_TYPE = 'Windows\' getaddrinfo gives one entry of socket type 0, not one per type'
    it('lists one entry per socket type when no type is asked for, and walks them with next/addrs', function()
      H.skip_unless(not H.windows, PER_TYPE)
      local ai = assert(socket.addr('127.0.0.1', 7, 0, 'inet'))
      local types = {}
      local n = 0
      local cur = ai
      while cur do
        n = n + 1
        types[cur:type()] = true
        assert.equal('127.0.0.1:7', cur:tostring())
        cur = cur:next()
      end
      assert.is_true(n >= 2)
      assert.is_true(types.tcp and types.udp)
      assert.equal(n, #list(ai))
      ai:free()
    end)

    it('keeps the list alive while a later entry is referenced', function()
      H.skip_unless(not H.windows, PER_TYPE .. ' (no second entry to keep)')
      local second = assert(socket.addr('127.0.0.1', 9, 0, 'inet')):next()
      assert.is_not_nil(second)
      for _ = 1, 3 do collectgarbage() end
      -- more lists of the same size from malloc: had the first list been
      -- freed, these would reuse its memory and change what second reads
      local others = {}
      for i = 1, 50 do others[i] = assert(socket.addr('127.0.0.2', 1000 + i, 0, 'inet')) end
      assert.equal('127.0.0.1:9', second:tostring())
      assert.equal(9, second.addr:port())
      for _, o in ipairs(others) do o:free() end
    end)

    it('free() releases the list at once and the GC does not free it again', function()
      for _ = 1, 200 do
        local ai = assert(socket.addr('127.0.0.1', 80))
        ai:free()
      end
      collectgarbage()
      collectgarbage()
    end)

    it('exposes the raw sockaddr as ai.addr with the read methods', function()
      local ai = assert(socket.addr('127.0.0.1', 8080, 'udp', 'inet'))
      local a = ai.addr
      assert.equal('inet', a:family())
      assert.equal('127.0.0.1', a:ip())
      assert.equal(8080, a:port())
      assert.equal('127.0.0.1:8080', a:tostring())
      assert.equal('127.0.0.1:8080', tostring(a))
      local sin = a:addr()
      assert.is_true(ffi.istype('struct sockaddr_in*', sin))
      assert.equal(socket.htons(8080), sin.sin_port)
      assert.same({127, 0, 0, 1}, {sin.sin_addr[0], sin.sin_addr[1], sin.sin_addr[2], sin.sin_addr[3]})
      assert.equal(ffi.sizeof'struct sockaddr_in', ai.addrlen)
      -- and as an owned sa
      local sa = ai:sockaddr()
      assert.equal(socket.sockaddr('127.0.0.1', 8080), sa)
      ai:free()
      assert.equal('127.0.0.1:8080', sa:tostring()) -- independent of the list
    end)

    it('ai.addr of an IPv6 entry is a sockaddr_in6', function()
      local ai = assert(socket.addr('::1', 8080, 'tcp', 'inet6'))
      local sin6 = ai.addr:addr()
      assert.is_true(ffi.istype('struct sockaddr_in6*', sin6))
      assert.equal(socket.htons(8080), sin6.sin6_port)
      assert.equal(1, sin6.sin6_addr[15])
      ai:free()
    end)

    it("returns the canonical name with the 'canonname' flag", function()
      local ai = assert(socket.addr('localhost', 80, 'tcp', 'inet', nil, 'canonname'))
      assert.equal('localhost', ai:name())
      ai:free()
      ai = assert(socket.addr('localhost', 80, 'tcp', 'inet', nil, {'canonname'}))
      assert.equal('localhost', ai:name())
      ai:free()
      ai = assert(socket.addr('127.0.0.1', 80, 'tcp', 'inet', nil, {'canonname', 'numerichost'}))
      assert.equal('127.0.0.1', ai:name())
      ai:free()
    end)

    it('takes a table {host=, port=, type=, family=}', function()
      local ai = assert(socket.addr{host = '127.0.0.1', port = 5353, type = 'udp', family = 'inet'})
      assert.equal('udp', ai:type())
      assert.equal('127.0.0.1:5353', ai:tostring())
      ai:free()
      ai = assert(socket.addr{host = '::1', port = '22'})
      assert.equal('[::1]:22', ai:tostring())
      ai:free()
    end)

    it('passes an ai through and says so', function()
      local ai = assert(socket.addr('127.0.0.1', 80))
      local ai2, passed = socket.addr(ai)
      assert.is_true(rawequal(ai, ai2))
      assert.is_true(passed)
      ai:free()
    end)

    it('accepts the port as a digit string', function()
      local ai = assert(socket.addr('127.0.0.1', '80'))
      assert.equal(80, ai.addr:port())
      ai:free()
      ai = assert(socket.addr('127.0.0.1', 0))
      assert.equal(0, ai.addr:port())
      ai:free()
      ai = assert(socket.addr('127.0.0.1', 65535))
      assert.equal(65535, ai.addr:port())
      ai:free()
    end)

    it("fails with EAI_NONAME for a name when 'numerichost' forbids a lookup", function()
      local ai, err, code = socket.addr('no-such-host.invalid', 80, 'tcp', 'inet', nil, 'numerichost')
      assert.is_nil(ai)
      assert.is_string(err)
      assert.equal('EAI_NONAME', code)
    end)

    it('a host with a trailing NUL or of the wrong type is a Lua error naming addr and host', function()
      assert.matches("'addr'.*NUL", err_of(socket.addr, '127.0.0.1\0evil', 80))
      for _, bad in ipairs{123, true, function() end} do
        assert.matches("bad argument #1 to 'addr'.*host", err_of(socket.addr, bad, 80))
      end
      assert.matches("'addr'.*host", err_of(socket.addr, {host = 42, port = 80}))
    end)

    it('rejects bad ports with a Lua error naming addr and port', function()
      for _, p in ipairs{-1, 70000, 65536, 1.5, '8o', '', ' 80', true} do
        local msg = err_of(socket.addr, '127.0.0.1', p)
        assert.matches("bad argument #2 to 'addr'", msg)
        assert.matches('port', msg)
      end
    end)

    it('rejects unknown family, type, protocol and flag names with a Lua error', function()
      assert.matches("bad argument #4 to 'addr'.*inet7", err_of(socket.addr, '127.0.0.1', 80, 'tcp', 'inet7'))
      assert.matches("bad argument #3 to 'addr'.*tcpx", err_of(socket.addr, '127.0.0.1', 80, 'tcpx'))
      assert.matches("bad argument #5 to 'addr'.*nope", err_of(socket.addr, '127.0.0.1', 80, 'tcp', 'inet', 'nope'))
      assert.matches("bad argument #6 to 'addr'.*bogus", err_of(socket.addr, '127.0.0.1', 80, 'tcp', 'inet', nil, 'bogus'))
      assert.matches("bad argument #6 to 'addr'", err_of(socket.addr, '127.0.0.1', 80, 'tcp', 'inet', nil, true))
      assert.matches("bad argument #4 to 'addr'.*sockaddr", err_of(socket.addr, '/tmp/x', 80, 'tcp', 'unix'))
      assert.matches("bad argument #7 to 'addr'", err_of(socket.addr, '127.0.0.1', 80, 'tcp', 'inet', nil, nil, 'soon'))
    end)
  end)

  describe('socket.sockaddr', function()
    it('makes an IPv4 address', function()
      local sa = assert(socket.sockaddr('127.0.0.1', 8080))
      assert.equal('inet', sa:family())
      assert.equal(8080, sa:port())
      assert.equal('127.0.0.1', sa:ip())
      assert.equal('127.0.0.1:8080', sa:tostring())
      assert.equal('127.0.0.1:8080', tostring(sa))
      local sin = sa:addr()
      assert.is_true(ffi.istype('struct sockaddr_in*', sin))
      assert.equal(socket.htons(8080), sin.sin_port)
      assert.equal(ffi.sizeof'struct sockaddr_in', sa.len)
    end)

    it('makes an IPv6 address and prints it with :: compression', function()
      local sa = assert(socket.sockaddr('::1', 80))
      assert.equal('inet6', sa:family())
      assert.equal('::1', sa:ip())
      assert.equal(80, sa:port())
      assert.equal('[::1]:80', sa:tostring())
      assert.equal(ffi.sizeof'struct sockaddr_in6', sa.len)
      assert.is_true(ffi.istype('struct sockaddr_in6*', sa:addr()))
      local cases = {
        ['2001:db8:0:0:0:0:0:1'] = '2001:db8::1',
        ['2001:DB8::1'] = '2001:db8::1',
        ['0:0:0:0:0:0:0:0'] = '::',
        ['fe80:0:0:0:1:0:0:1'] = 'fe80::1:0:0:1',
        ['2001:db8:0:1:0:0:0:1'] = '2001:db8:0:1::1',
        ['::ffff:127.0.0.1'] = '::ffff:127.0.0.1',
      }
      for ip, want in pairs(cases) do
        local a = assert(socket.sockaddr(ip, 443))
        assert.equal(want, a:ip(), ip)
        assert.equal('[' .. want .. ']:443', a:tostring(), ip)
      end
    end)

    it('keeps a numeric IPv6 scope id', function()
      local sa = assert(socket.sockaddr('fe80::1%2', 80))
      assert.equal(2, sa:addr().sin6_scope_id)
      assert.equal('fe80::1', sa:ip())
    end)

    it('defaults the port to 0 and accepts a digit string', function()
      assert.equal(0, socket.sockaddr('127.0.0.1'):port())
      assert.equal(80, socket.sockaddr('127.0.0.1', '80'):port())
    end)

    it('returns nil, msg, code for an address that is not numeric', function()
      local sa, err, code = socket.sockaddr('1.2.3', 80)
      assert.is_nil(sa)
      assert.is_string(err)
      assert.is_string(code)
      sa, err, code = socket.sockaddr('localhost', 80)
      assert.is_nil(sa)
      assert.is_string(err)
      assert.is_string(code)
    end)

    it('compares with == by value', function()
      local a = socket.sockaddr('127.0.0.1', 80)
      assert.is_true(a == socket.sockaddr('127.0.0.1', 80))
      assert.is_false(a == socket.sockaddr('127.0.0.1', 81))
      assert.is_false(a == socket.sockaddr('127.0.0.2', 80))
      assert.is_false(a == socket.sockaddr('::1', 80))
      assert.is_true(socket.sockaddr('::1', 80) == socket.sockaddr('0:0:0:0:0:0:0:1', 80))
      assert.is_true(socket.sockaddr('/tmp/s2.sock') == socket.sockaddr('/tmp/s2.sock'))
      assert.is_false(socket.sockaddr('/tmp/s2.sock') == socket.sockaddr('/tmp/s2.sockx'))
    end)

    it('copy() makes an equal, independent address', function()
      local a = socket.sockaddr('127.0.0.1', 80)
      local b = a:copy()
      assert.is_true(a == b)
      assert.is_false(rawequal(a, b))
      b:addr().sin_port = socket.htons(81)
      assert.equal(81, b:port())
      assert.equal(80, a:port())
      assert.is_false(a == b)
    end)

    it('makes a unix path address', function()
      local sa = assert(socket.sockaddr('/tmp/socket2-test.sock'))
      assert.equal('unix', sa:family())
      assert.equal('/tmp/socket2-test.sock', sa:ip())
      assert.equal('/tmp/socket2-test.sock', sa:tostring())
      assert.is_nil(sa:port())
      assert.is_true(ffi.istype('struct sockaddr_un*', sa:addr()))
      assert.equal('/tmp/socket2-test.sock', ffi.string(sa:addr().sun_path))
    end)

    it("makes a Linux abstract address from '\\0name', printed '@name'", function()
      H.skip_unless(require'socket2.os'.ABSTRACT_UNIX, 'no abstract unix names on this OS')
      local sa = assert(socket.sockaddr('\0socket2-abstract'))
      assert.equal('unix', sa:family())
      assert.equal('@socket2-abstract', sa:tostring())
      assert.equal('\0socket2-abstract', sa:ip())
      -- the length covers exactly the name: no trailing NUL is part of it
      assert.equal(ffi.offsetof('struct sockaddr_un', 'sun_path') + #'\0socket2-abstract', sa.len)
    end)

    it('refuses a unix path longer than sun_path with ENAMETOOLONG, never truncating', function()
      local ok = assert(socket.sockaddr('/' .. ('x'):rep(106))) -- 107 bytes + NUL: fits
      assert.equal(107, #ok:ip())
      local sa, err, code = socket.sockaddr('/' .. ('x'):rep(107)) -- 108 bytes: no room for the NUL
      assert.is_nil(sa)
      assert.is_string(err)
      assert.equal('ENAMETOOLONG', code)
      sa, err, code = socket.sockaddr('/' .. ('x'):rep(300))
      assert.is_nil(sa)
      assert.is_string(err)
      assert.equal('ENAMETOOLONG', code)
      -- abstract names have no NUL terminator: 108 bytes fit, 109 do not
      H.skip_unless(require'socket2.os'.ABSTRACT_UNIX, 'no abstract unix names on this OS')
      assert(socket.sockaddr('\0' .. ('y'):rep(107)))
      sa, err, code = socket.sockaddr('\0' .. ('y'):rep(108))
      assert.is_nil(sa)
      assert.is_string(err)
      assert.equal('ENAMETOOLONG', code)
    end)

    it('treats a relative unix path made of hex letters as a path', function()
      -- 'cafe', 'db', 'add.sock' are not IP addresses: with no port they
      -- can only be unix paths
      for _, path in ipairs{'cafe', 'db', 'add.sock', 'bad'} do
        local sa, err = socket.sockaddr(path)
        if not sa then
          pending(("BUG: socket.sockaddr('%s') is taken for an IP address and fails (%s) "
            .. "instead of making a unix address (addr.lua M.sockaddr)"):format(path, tostring(err)))
        end
        assert.equal('unix', sa:family())
        assert.equal(path, sa:ip())
      end
    end)

    it('rejects bad ports with a Lua error naming sockaddr and port', function()
      for _, p in ipairs{-1, 70000, 'abc', 1.5} do
        local msg = err_of(socket.sockaddr, '127.0.0.1', p)
        assert.matches("bad argument #2 to 'sockaddr'", msg)
        assert.matches('port', msg)
      end
    end)

    it('rejects a non-string host and a NUL inside a path with a Lua error', function()
      assert.matches("bad argument #1 to 'sockaddr'", err_of(socket.sockaddr, 42, 80))
      assert.matches("bad argument #1 to 'sockaddr'", err_of(socket.sockaddr, {}, 80))
      assert.matches("'sockaddr'.*NUL", err_of(socket.sockaddr, '/tmp/a\0b'))
      assert.matches("'sockaddr'.*NUL", err_of(socket.sockaddr, '127.0.0.1\0', 80))
      assert.matches("'sockaddr'", err_of(socket.sockaddr, ''))
    end)
  end)

  describe('resolving for a socket', function()
    it("a dotted name that is no IPv4 address is EAI_NONAME on an inet socket, without a lookup", function()
      local s = assert(socket.tcp())
      local ok, err, code = s:connect('256.1.1.1', 80)
      assert.is_nil(ok)
      assert.is_string(err)
      assert.equal('EAI_NONAME', code)
      local u = assert(socket.udp())
      local n, err2, code2 = u:send('x', nil, '256.1.1.1', 9)
      assert.is_nil(n)
      assert.is_string(err2)
      assert.equal('EAI_NONAME', code2)
      s:close()
      u:close()
    end)

    it("connects by the name 'localhost'", function()
      local l, port = H.listener()
      local accepted
      socket.newthread(function()
        local c = assert(l:accept())
        accepted = true
        c:close()
      end)
      local c = assert(socket.tcp())
      assert.is_true(c:connect('localhost', port))
      assert.equal('127.0.0.1', c:getpeername():ip())
      assert.equal(port, c:getpeername():port())
      while not accepted do socket.poll(1) end
      c:close()
      l:close()
    end)

    it('binds to an sa and to an ai', function()
      local u = assert(socket.udp())
      assert.is_true(u:bind(socket.sockaddr('127.0.0.1', 0)))
      assert.equal('127.0.0.1', u:getsockname():ip())
      u:close()
      local ai = assert(socket.addr('127.0.0.1', 0, 'udp', 'inet'))
      u = assert(socket.udp())
      assert.is_true(u:bind(ai))
      assert.equal('127.0.0.1', u:getsockname():ip())
      assert.is_true(u:getsockname():port() > 0)
      u:close()
      ai:free()
    end)
  end)

  describe('getnameinfo', function()
    it('formats a numeric address with NI_NUMERICHOST', function()
      local os_ = require'socket2.os'
      local sa = socket.sockaddr('127.0.0.1', 80)
      local host, serv = socket.getnameinfo(sa, os_.NI.numerichost)
      assert.equal('127.0.0.1', host)
      -- the service may be named from /etc/services ('http')
      assert.truthy(serv == '80' or serv == 'http', serv)
      host, serv = socket.getnameinfo(sa, os_.NI.numerichost + os_.NI.numericserv)
      assert.equal('127.0.0.1', host)
      assert.equal('80', serv)
      host, serv = socket.getnameinfo(socket.sockaddr('::1', 8080), os_.NI.numerichost + os_.NI.numericserv)
      assert.equal('::1', host)
      assert.equal('8080', serv)
    end)

    it('takes a raw sockaddr from an ai', function()
      local ai = assert(socket.addr('127.0.0.1', 443))
      local os_ = require'socket2.os'
      local host, serv = socket.getnameinfo(ai.addr, os_.NI.numerichost + os_.NI.numericserv)
      assert.equal('127.0.0.1', host)
      assert.equal('443', serv)
      ai:free()
    end)

    it('rejects what is not a sockaddr', function()
      assert.matches("bad argument #1 to 'getnameinfo'", err_of(socket.getnameinfo, '127.0.0.1', 1))
    end)

    it('takes its flags by name, and looks names up off the loop', function()
      local sa = socket.sockaddr('127.0.0.1', 80)
      assert.equal('127.0.0.1', (socket.getnameinfo(sa, 'numerichost')))
      assert.same({'127.0.0.1', '80'}, {socket.getnameinfo(sa, {'numerichost', 'numericserv'})})
      -- a name (from /etc/hosts): looked up on a worker thread, in a thread
      local host
      socket.newthread(function() host = socket.getnameinfo(sa, 'numericserv', 5) end)
      H.wait_until(function() return host end, nil, 'the reverse lookup')
      assert.is_string(host)
      assert.matches("unknown name lookup flag 'numeric'", err_of(socket.getnameinfo, sa, 'numeric'))
    end)

    it('reports the real failure, not always EAI_NONAME', function()
      local u = socket.sockaddr('127.0.0.1', 80)
      require'socket2.os'.sa_set_family(u, 255, u.len) -- no such family
      for _, flags in ipairs{{'numerichost', 'numericserv'}, 'numerichost'} do -- at once; on a worker
        local ok, err, code = socket.getnameinfo(u, flags)
        assert.is_nil(ok)
        assert.is_string(err)
        assert.equal('EAI_FAMILY', code)
      end
    end)
  end)

  describe('freeing address lists', function()
    it('free twice does nothing the second time', function()
      local ai = assert(socket.addr('127.0.0.1', 80))
      ai:free()
      ai:free()
    end)

    it('an entry cannot free its list', function()
      local ai = assert(socket.getaddrinfo and socket.addr('localhost', 80, 'tcp'))
      for a in ai:addrs() do
        if a ~= ai then
          assert.matches('entry of an address list', err_of(a.free, a))
        end
      end
      local n = ai:next()
      if n then assert.matches('entry of an address list', err_of(n.free, n)) end
      ai:free()
      collectgarbage(); collectgarbage()
    end)

    it('a freed list raises a clear error when used', function()
      local ai = assert(socket.addr('127.0.0.1', 80))
      local entry = ai:next() -- may be nil
      ai:free()
      assert.matches('freed', err_of(function() return ai:tostring() end))
      assert.matches('freed', err_of(function() return ai:family() end))
      assert.matches('freed', err_of(function() return ai.addr end))
      assert.matches('freed', tostring(ai))
      if entry then assert.matches('freed', err_of(function() return entry:tostring() end)) end
      local s = assert(socket.tcp())
      assert.matches('freed', err_of(s.connect, s, ai))
      assert.matches('freed', err_of(socket.connect, ai))
      s:close()
    end)

    it('service names work in socket.addr; an unknown one is a runtime failure', function()
      local ok, err, code = socket.addr('127.0.0.1', 'no-such-service-xyz', 'tcp')
      assert.is_nil(ok); assert.is_string(err); assert.equal('EAI_SERVICE', code)
      local ai = socket.addr('127.0.0.1', 'http', 'tcp')
      if not ai then pending('no /etc/services entry for http') return end
      assert.equal(80, ai:sockaddr():port())
      ai:free()
    end)
  end)

  describe('byte order', function()
    it('swaps 16-bit values', function()
      assert.equal(0x3412, socket.htons(0x1234))
      assert.equal(0x1234, socket.ntohs(0x3412))
      assert.equal(0xff00, socket.htons(0x00ff))
      assert.equal(0xffff, socket.htons(0xffff))
      assert.equal(0, socket.htons(0))
      for _, v in ipairs{0, 1, 80, 443, 8080, 0x7fff, 0x8000, 0xabcd, 65535} do
        assert.equal(v, socket.ntohs(socket.htons(v)))
        assert.is_true(socket.htons(v) >= 0 and socket.htons(v) <= 0xffff)
      end
    end)

    it('swaps 32-bit values into non-negative numbers', function()
      assert.equal(0x04030201, socket.htonl(0x01020304))
      assert.equal(0x01020304, socket.ntohl(0x04030201))
      assert.equal(0xff000000, socket.htonl(0xff))
      assert.equal(0x80, socket.htonl(0x80000000))
      assert.equal(0x0100007f, socket.htonl(0x7f000001)) -- 127.0.0.1
      for _, v in ipairs{0, 1, 0x7f000001, 0x80000000, 0xdeadbeef, 0xffffffff} do
        assert.equal(v, socket.ntohl(socket.htonl(v)))
        assert.is_true(socket.htonl(v) >= 0)
      end
    end)

    it('htons matches what sockaddr stores', function()
      local sa = socket.sockaddr('127.0.0.1', 0x1234)
      assert.equal(socket.htons(0x1234), sa:addr().sin_port)
      local b = ffi.cast('uint8_t*', ffi.cast('struct sockaddr_in*', sa:addr())) + 2
      assert.equal(0x12, b[0]) -- network order: big end first
      assert.equal(0x34, b[1])
    end)
  end)

  describe('lookups inside threads', function()
    it('park only the calling thread', function()
      local result
      local co = socket.newthread(function()
        result = {socket.addr('localhost', 80, 'tcp', 'inet')}
      end)
      -- the thread is parked on the lookup: its answer only arrives as an
      -- event, so newthread returned before the lookup finished
      assert.is_nil(result)
      assert.is_not_nil(co)
      while not result do socket.poll(1) end
      local ai = assert(result[1], result[2])
      assert.equal('127.0.0.1:80', ai:tostring())
      ai:free()
    end)

    it("of 'localhost' work and do not stop a ticker thread", function()
      local ticks, ticker_done = 0, false
      local name = socket.run(function()
        local done, waiter = false, nil
        socket.newthread(function()
          while not done do
            socket.sleep(0.001)
            ticks = ticks + 1
          end
          ticker_done = true
          if waiter then socket.resume(waiter) end
        end)
        local ai = assert(socket.addr('localhost', 80, 'tcp', 'inet', nil, 'canonname'))
        local ai2 = assert(socket.addr('localhost', 443, 'udp', 'inet'))
        assert.equal('127.0.0.1:443', ai2:tostring())
        ai2:free()
        local n = ai:name()
        ai:free()
        done = true
        waiter = socket.currentthread()
        socket.suspend()
        return n
      end)
      assert.equal('localhost', name)
      assert.is_true(ticker_done)
      assert.is_true(ticks >= 1)
    end)

    it('many concurrent lookups all finish', function()
      local got = 0
      socket.run(function()
        local n, waiter = 0, socket.currentthread()
        for i = 1, 20 do
          socket.newthread(function()
            local ai = assert(socket.addr('localhost', 1000 + i, 'tcp', 'inet'))
            assert.equal(1000 + i, ai.addr:port())
            ai:free()
            got = got + 1
            n = n + 1
            if n == 20 then socket.resume(waiter) end
          end)
        end
        if n < 20 then socket.suspend() end
      end)
      assert.equal(20, got)
    end)

    it('a lookup with a deadline in the past times out or answers, and leaves nothing behind', function()
      local ai, err, code = socket.addr('localhost', 80, 'tcp', 'inet', nil, nil, socket.clock() - 1)
      if ai then
        ai:free()
      else
        assert.equal('timeout', err)
        assert.equal('ETIMEDOUT', code)
      end
    end)
  end)
end)
