-- Runs every example the way a user would (as its own luajit process), so
-- the examples cannot rot. Servers print their address first and exit by
-- themselves after a given number of clients/requests.
local socket = require'socket2'
local H = require'helpers'

local LUAJIT = 'luajit'
local ENV = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='./?.so;;' ")
local CMD = function(c) return c end

if H.windows then
  -- Windows (under Wine here): cmd.exe, not sh. The examples run in this
  -- same luajit.exe; LUA_PATH and LUA_CPATH are inherited.
  LUAJIT, ENV = '"' .. arg[-1] .. '"', ''
  CMD = function(c) return '"' .. c .. '"' end -- cmd /c strips one pair of quotes
end

-- Runs an example to its end: its output, and whether it exited with 0.
local function run(script, args)
  if H.windows then
    local tmp = (os.getenv'TEMP' or '.') .. '\\socket2-example.out'
    local status = os.execute(CMD(LUAJIT .. ' examples/' .. script .. ' ' .. (args or '')
      .. ' > "' .. tmp .. '" 2>&1'))
    local f = assert(io.open(tmp, 'rb'))
    local out = f:read'*a':gsub('\r\n', '\n')
    f:close()
    os.remove(tmp)
    return out, status == 0
  end
  local p = assert(io.popen(ENV .. LUAJIT .. ' examples/' .. script .. ' ' .. (args or '')
    .. ' 2>&1; echo "exit status $?"'))
  local out = p:read'*a'
  p:close()
  local status = tonumber(out:match'exit status (%d+)\n$')
  return out:gsub('exit status %d+\n$', ''), status == 0
end

-- Starts a server example; returns its port and a function that waits for
-- it to exit and returns the rest of its output.
local function start_server(script, args)
  local p = assert(io.popen(CMD(ENV .. LUAJIT .. ' examples/' .. script .. ' ' .. args .. ' 2>&1')))
  local first = p:read'*l'
  local port = tonumber(first and first:match':(%d+)/?$')
  assert(port, 'server did not say its address: ' .. tostring(first))
  return port, function() local rest = p:read'*a'; p:close(); return rest end
end

describe('examples', function()
  after_each(H.no_leaks)

  it('demo.lua: three clients talk to an echo server', function()
    local out = run('demo.lua')
    assert.matches('client 1%s+sent "hello", got "HELLO"', out)
    assert.matches('client 3%s+sent "over epoll", got "OVER EPOLL"', out)
    assert.matches('all done', out)
  end)

  it('echo_server.lua + echo_client.lua', function()
    local port, finish = start_server('echo_server.lua', '0 1')
    local out = run('echo_client.lua', port .. ' one two')
    assert.equal('echo: one\necho: two\n', out)
    finish()
  end)

  it('udp_echo.lua', function()
    local out = run('udp_echo.lua')
    assert.matches('sent "three", got "three"', out)
  end)

  it('unix_echo.lua over a path and an abstract name', function()
    H.skip_unless(H.has_unix(), H.NO_UNIX)
    H.skip_unless(require'socket2.os'.ABSTRACT_UNIX, 'no abstract unix names on this OS')
    local out = run('unix_echo.lua')
    assert.matches('sent "over a unix socket", got "over a unix socket"', out)
    out = run('unix_echo.lua', '@socket2-example-' .. math.random(1e9))
    assert.matches('on @socket2%-example', out)
    assert.matches('got "hello"', out)
  end)

  it('chat_server.lua relays lines between clients', function()
    local port, finish = start_server('chat_server.lua', '0 2')
    local a = socket.stream(assert(socket.tcp()))
    assert(a.socket:connect('127.0.0.1', port))
    a.socket:settimeout(5)
    assert.matches('^welcome guest1$', a:readline())
    local b = socket.stream(assert(socket.tcp()))
    assert(b.socket:connect('127.0.0.1', port))
    b.socket:settimeout(5)
    assert.matches('^welcome guest2$', b:readline())
    assert.equal('* guest2 joined', a:readline())
    a:write('/nick alice\n')
    assert(a:flush())
    assert.equal('* guest1 is now alice', b:readline())
    b:write('hi alice\n')
    assert(b:flush())
    assert.equal('guest2: hi alice', a:readline())
    b:write('/who\n')
    assert.equal('* here: alice guest2', b:readline())
    b:write('/quit\n')
    assert(b:flush())
    assert.equal('* guest2 left', a:readline())
    b:close()
    a:close()
    finish()
  end)

  it('chat_server.lua serves everyone while a client does not read (it is dropped)', function()
    H.skip_unless(not H.windows and io.open('/usr/bin/python3') ~= nil, 'needs /usr/bin/python3 for the stalled client')
    local port, finish = start_server('chat_server.lua', '0 3')
    local function client(nick)
      local st = socket.stream(assert(socket.connect('127.0.0.1', port)))
      st:settimeout(10)
      assert.matches('^welcome ', st:readline())
      st:write('/nick ', nick, '\n')
      return st
    end
    local a, b = client('alice'), client('bob')
    -- a real client that connects, says its name and never reads (a small
    -- receive buffer, so that it stalls soon)
    local pid = H.sh(([[/usr/bin/python3 -c 'import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", %d))
s.sendall(b"/nick stall\n")
time.sleep(60)' > /dev/null 2>&1 & echo $!]]):format(port)):match'%d+'
    local function until_line(st, want)
      while true do
        local line = assert(st:readline())
        if line == want then return end
      end
    end
    until_line(a, '* guest3 is now stall')
    -- 2000 lines of 100 bytes each way: far more than the stalled client's
    -- queue and socket buffers hold
    local N, pad = 2000, ('x'):rep(80)
    local got_a, got_b, dropped = 0, 0, 0
    local function reader(st, from, count)
      return socket.newthread(function()
        local want = 1
        while want <= N do
          local line = assert(st:readline())
          if line == '* stall dropped (not reading)' then dropped = dropped + 1
          elseif line:sub(1, #from + 2) == from .. ': ' then
            assert.equal(('%s: %d %s'):format(from, want, pad), line)
            want = want + 1
            count(want)
          end
        end
      end)
    end
    local ra = reader(a, 'bob', function(n) got_a = n - 1 end)
    local rb = reader(b, 'alice', function(n) got_b = n - 1 end)
    for i = 1, N do -- paced like chat: in rounds of 50 lines both read
      a:write(('%d %s\n'):format(i, pad))
      b:write(('%d %s\n'):format(i, pad))
      if i % 50 == 0 then
        H.wait_until(function() return got_a >= i and got_b >= i end, 20, 'round ' .. i)
      end
    end
    assert.is_true(socket.join(ra, 30))
    assert.is_true(socket.join(rb, 30))
    assert.equal(N, got_a); assert.equal(N, got_b)
    assert.is_true(dropped >= 1)
    a:write('/quit\n'); assert(a:flush())
    until_line(b, '* alice left')
    b:write('/quit\n'); assert(b:flush())
    a:close(); b:close()
    os.execute('kill ' .. pid .. ' 2>/dev/null')
    finish()
  end)

  it('http_server.lua + http_get.lua over keep-alive', function()
    local port, finish = start_server('http_server.lua', '0 3')
    local out = run('http_get.lua', ('http://127.0.0.1:%d/page 3'):format(port))
    local _, n = out:gsub('HTTP/1%.1 200 OK\nhello from socket2, you asked for /page\n', '')
    assert.equal(3, n)
    finish()
  end)

  it('mt_server.lua: 3 OS threads sharing one kernel object answer every client', function()
    local out, ok = run('mt_server.lua', '3 60 5')
    assert.is_true(ok, out)
    assert.matches('60 clients x 5 requests: 300 responses', out)
    local total = 0
    for n in out:gmatch'thread %d: (%d+) requests' do total = total + tonumber(n) end
    assert.equal(300, total)
  end)

  -- socket2.tls (issue 14)
  it('tls_echo_server.lua answers a TLS client; https_get.lua fetches from openssl s_server', function()
    local T = require'tls.tlsh'
    local skip = T.skip()
    if skip then pending(skip) return end
    local D = T.certs()
    local q = H.windows and function(v) return '"' .. v .. '"' end or H.shell_quote -- (cmd.exe or sh)
    local port, finish = start_server('tls_echo_server.lua', '0 1 ' .. q(D .. 'chain.pem') .. ' ' .. q(D .. 'server.key'))
    local ts = assert(T.tls.connect('localhost', port, T.client_ctx(), socket.clock() + 10 * H.SLOW))
    local st = socket.stream(ts)
    st:write('one\ntwo\n')
    assert.equal('echo: one', st:readline())
    assert.equal('echo: two', st:readline())
    st:close()
    finish()
    if not (T.posix and T.have'openssl') then pending('https_get.lua needs openssl s_server (POSIX)') return end
    local sport = T.free_port()
    local peer = T.spawn(('openssl s_server -accept %d -cert %s -key %s -www'):format(
      sport, H.shell_quote(D .. 'chain.pem'), H.shell_quote(D .. 'server.key')))
    assert(T.wait_port(sport))
    local out, ok = run('https_get.lua', ('https://localhost:%d/ %s'):format(sport, H.shell_quote(D .. 'ca.pem')))
    local out2, ok2 = run('https_get.lua', ('https://localhost:%d/'):format(sport)) -- the system store
    T.stop(peer)
    assert.is_true(ok, out)
    assert.matches('^TLSv1%.3 ', out)
    assert.matches('HTTP/1.0 200 ok', out)
    assert.falsy(ok2)
    assert.matches('certificate verify failed', out2)
  end)

  it('http_get.lua explains its usage', function()
    local out, ok = run('http_get.lua', 'nonsense')
    assert.falsy(ok)
    assert.matches('usage', out)
  end)
end)
