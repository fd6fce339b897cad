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
