-- spec/compat/luasocket_libs_spec.lua: libraries written for LuaSocket,
-- unchanged, on socket2.luasocket: redis-lua (Debian's lua-redis) against
-- redis-server, LuaSocket's own socket.http (chunked bodies, timeouts,
-- ltn12 sinks, a refused port) against socket2 servers and python's
-- http.server, socket.smtp against python's smtpd; several socket2 threads
-- using them at once interleave.
local socket2 = require'socket2'
local H = require'helpers'
local S = require'compat.servers'

local have = package.searchpath('socket', package.path) ~= nil
  and package.searchpath('socket.http', package.path) ~= nil
local why_not = 'LuaSocket (Debian\'s lua-socket: socket.lua, socket/http.lua, mime) is not installed here'
if have then
  -- socket.http needs mime's C part (LuaSocket's own, no socket in it)
  local ok = pcall(require, 'mime.core')
  if not ok then have, why_not = false, 'LuaSocket\'s mime.core C module is not available here' end
end

local socket, http, ltn12

-- An HTTP server thread: handler(method, path, headers, stream) answers
-- each request; returns the port and a stop function.
local function http_server(handler)
  local l, port = H.listener()
  socket2.newthread(function()
    while true do
      local c = l:accept()
      if not c then break end
      socket2.newthread(function()
        local st = socket2.stream(c)
        local line = st:readline()
        if not line then c:close(); return end
        local method, path = line:match'^(%u+) (%S+)'
        local headers = {}
        while true do
          local h = st:readline()
          if not h or h == '' then break end
          local k, v = h:match'^([^:]+):%s*(.*)$'
          if k then headers[k:lower()] = v end
        end
        local body
        if headers['content-length'] then body = st:read(tonumber(headers['content-length'])) end
        handler(method, path, headers, st, body)
        if not c:closed() then st:close() end
      end)
    end
  end)
  return port, function() l:close() end
end

describe('compat: LuaSocket libraries on socket2.luasocket', function()
  local redis_srv, redis_why
  setup(function()
    if have then
      socket = require'socket2.luasocket'
      http = require'socket.http'
      ltn12 = require'ltn12'
      if package.searchpath('redis', package.path) then redis_srv, redis_why = S.start('redis')
      else redis_why = 'redis-lua (Debian\'s lua-redis) is not installed' end
    else
      redis_why = why_not
    end
  end)
  teardown(function() S.stop(redis_srv) end)
  after_each(S.clean)

  it('redis-lua: two threads interleave; pipeline, blpop with a server-side timeout, quit', function()
    H.skip_unless(redis_srv, redis_why)
    local redis = require'redis'
    local order = {}
    local threads = {}
    for _, name in ipairs{'a', 'b'} do
      threads[#threads + 1] = socket2.newthread(function()
        local c = redis.connect('127.0.0.1', redis_srv.port)
        for i = 1, 3 do
          assert.is_true(c:set(name, i))
          local v = c:get(name)
          order[#order + 1] = name .. v
          socket.sleep(0.01)
        end
        local replies = c:pipeline(function(p)
          p:incr('ctr')
          p:incr('ctr')
          p:get('missing')
        end)
        assert.is_number(replies[1])
        assert.equal(replies[1] + 1, replies[2])
        assert.is_nil(replies[3])
        local t0 = socket.gettime()
        assert.is_nil(c:blpop('nothing', 1)) -- the server times out, the client waits
        assert.is_true(socket.gettime() - t0 >= 0.9)
        c:quit()
      end)
    end
    for _, t in ipairs(threads) do assert.is_true((socket2.join(t))) end
    -- both threads did their first command before either did its second
    assert.equal(6, #order)
    local first_two = {order[1], order[2]}
    table.sort(first_two)
    assert.same({'a1', 'b1'}, first_two)
    local seen = {a = 0, b = 0}
    for _, e in ipairs(order) do
      local name, v = e:sub(1, 1), tonumber(e:sub(2))
      assert.equal(seen[name] + 1, v)
      seen[name] = v
    end
  end)

  it('redis-lua: an error reply raises (its convention); a unix socket; a socket handed in', function()
    H.skip_unless(redis_srv, redis_why)
    local redis = require'redis'
    socket2.run(function()
      local c = redis.connect('127.0.0.1', redis_srv.port)
      local ok, err = pcall(c.hset, c, 'onlykey')
      assert.is_false(ok)
      assert.matches('wrong number of arguments', tostring(err))
      local u = redis.connect{scheme = 'unix', path = redis_srv.dir .. '/redis.sock'}
      assert.is_true(u:ping())
      u:quit()
      local s = socket.tcp()
      assert.equal(1, s:connect('127.0.0.1', redis_srv.port))
      local h = redis.connect{socket = s}
      assert.is_true(h:ping())
      h:quit(); c:quit()
    end)
  end)

  it('socket.http: a chunked response, a request body, ltn12 sinks and sources, from plain code too', function()
    H.skip_unless(have, why_not)
    local big = ('0123456789abcdef'):rep(30000) -- 480 kB
    local port, stop = http_server(function(method, path, _, st, body)
      if path == '/chunked' then
        st:write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
          '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
      elseif path == '/big' then
        st:write('HTTP/1.1 200 OK\r\nContent-Length: ', #big, '\r\nConnection: close\r\n\r\n', big)
      elseif method == 'POST' then
        st:write('HTTP/1.1 201 Created\r\nContent-Length: ', #body, '\r\nX-Got: yes\r\nConnection: close\r\n\r\n',
          body:upper())
      end
    end)
    local base = 'http://127.0.0.1:' .. port
    -- from plain code (no thread): the call blocks while the loop runs
    local b, code, headers = http.request(base .. '/chunked')
    assert.same({'hello world', 200, 'chunked'}, {b, code, headers['transfer-encoding']})
    socket2.run(function()
      local t = {}
      local one, c2 = http.request{url = base .. '/big', sink = ltn12.sink.table(t)}
      assert.same({1, 200}, {one, c2})
      assert.is_true(table.concat(t) == big, '480 kB through ltn12.sink.table')
      local out = {}
      local _, c3, h3 = http.request{url = base .. '/post', method = 'POST', source = ltn12.source.string('a body'),
        headers = {['content-length'] = 6}, sink = ltn12.sink.table(out)}
      assert.same({201, 'yes', 'A BODY'}, {c3, h3['x-got'], table.concat(out)})
      local b4, c4 = http.request(base .. '/post', 'a body')
      assert.same({'A BODY', 201}, {b4, c4})
    end)
    stop()
  end)

  it('socket.http: a silent server times out (http.TIMEOUT), a refused port is refused', function()
    H.skip_unless(have, why_not)
    local l, port = H.listener() -- accepts, never answers
    local held = {}
    socket2.newthread(function()
      while true do
        local c = l:accept()
        if not c then break end
        held[#held + 1] = c
      end
    end)
    local old = http.TIMEOUT
    http.TIMEOUT = 0.2
    local t0 = socket2.clock()
    assert.same({nil, 'timeout'}, {http.request('http://127.0.0.1:' .. port .. '/')})
    local dt = socket2.clock() - t0
    assert.is_true(dt >= 0.19 and dt < 1 * H.SLOW, tostring(dt))
    http.TIMEOUT = old
    assert.same({nil, 'connection refused'}, {http.request('http://127.0.0.1:' .. S.free_port() .. '/')})
    l:close()
    for _, c in ipairs(held) do c:close() end
  end)

  it('socket.http and redis-lua in several threads at once, against real servers (python http.server)', function()
    H.skip_unless(redis_srv, redis_why)
    local dir = H.tmppath('-www')
    assert(select(2, H.sh('mkdir -p ' .. H.shell_quote(dir))))
    local f = assert(io.open(dir .. '/file.txt', 'wb'))
    f:write(('line of a file\n'):rep(5000))
    f:close()
    local web, why = S.start('http', dir)
    if not web then H.sh('rm -rf ' .. H.shell_quote(dir)) end
    H.skip_unless(web, why)
    local redis = require'redis'
    local results = {}
    local threads = {}
    for i = 1, 4 do
      threads[i] = socket2.newthread(function()
        local c = redis.connect('127.0.0.1', redis_srv.port)
        for k = 1, 3 do
          local body, code = http.request(('http://127.0.0.1:%d/file.txt'):format(web.port))
          assert.equal(200, code)
          c:rpush('lengths' .. i, #body)
          results[#results + 1] = i .. ':' .. k
        end
        c:quit()
      end)
    end
    for i = 1, 4 do assert.is_true((socket2.join(threads[i]))) end
    socket2.run(function()
      local c = redis.connect('127.0.0.1', redis_srv.port)
      for i = 1, 4 do assert.same({'75000', '75000', '75000'}, c:lrange('lengths' .. i, 0, -1)) end
      c:quit()
    end)
    assert.equal(12, #results)
    assert.are_not.equal('1:1,1:2,1:3', table.concat(results, ',', 1, 3)) -- interleaved, not one after another
    S.stop(web)
    H.sh('rm -rf ' .. H.shell_quote(dir))
  end)

  it('ssl.https (LuaSec\'s own https.lua) on socket2.tls: verify none, verify peer against the test CA', function()
    H.skip_unless(have, why_not)
    H.skip_unless(package.searchpath('ssl.https', package.path), 'LuaSec\'s ssl/https.lua (lua-sec) is not installed')
    local tls = require'socket2.tls'
    H.skip_unless(tls.available())
    H.skip_unless(package.preload.ssl or (package.loaded.ssl and package.loaded.ssl._SOCKET2),
      'LuaSec itself was loaded before socket2.luasocket')
    local certs, why = S.certs()
    H.skip_unless(certs, why)
    local https = require'ssl.https'
    local sctx = assert(tls.context{server = true, cert = certs .. '/chain.pem', key = certs .. '/server.key'})
    local l, port = H.listener()
    local active = 0
    socket2.newthread(function()
      active = active + 1
      while true do
        local c = l:accept()
        if not c then break end
        socket2.newthread(function()
          active = active + 1
          local st = socket2.stream(tls.wrap(c, sctx))
          while true do local line = st:readline(); if not line or line == '' then break end end
          st:write('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello, https')
          st:close()
          active = active - 1
        end)
      end
      active = active - 1
    end)
    local b, code = https.request(('https://127.0.0.1:%d/'):format(port))
    assert.same({'hello, https', 200}, {b, code})
    local t = {}
    socket2.run(function()
      local one, c2 = https.request{url = ('https://localhost:%d/'):format(port), verify = 'peer',
        cafile = certs .. '/ca.pem', sink = ltn12.sink.table(t)}
      assert.same({1, 200}, {one, c2})
    end)
    assert.equal('hello, https', table.concat(t))
    local no, err = https.request{url = ('https://localhost:%d/'):format(port), verify = 'peer',
      sink = ltn12.sink.table{}}
    assert.is_nil(no)
    assert.matches('certificate verify failed', err)
    l:close()
    H.wait_until(function() return active == 0 end, 5, 'the server threads')
  end)

  it('copas 1.1.7 (Debian\'s) on socket2.luasocket: its threads run redis-lua over non-blocking sockets', function()
    H.skip_unless(redis_srv, redis_why)
    H.skip_unless(package.searchpath('copas', package.path), 'lua-copas is not installed')
    local protect, newtry = socket.protect, socket.newtry -- (copas replaces them in the module)
    local http_loaded = package.loaded['socket.http'] -- (copas refuses to load after it)
    package.loaded['socket.http'] = nil
    local copas = require'copas'
    package.loaded['socket.http'] = http_loaded
    local redis = require'redis'
    local got = {}
    for i = 1, 2 do
      copas.addthread(function()
        local skt = socket.tcp()
        assert(copas.connect(skt, '127.0.0.1', redis_srv.port))
        local c = redis.connect{socket = copas.wrap(skt)}
        for k = 1, 3 do
          c:set('copas' .. i, k)
          local v = c:get('copas' .. i) -- (it yields: then append)
          got[#got + 1] = i .. ':' .. v
        end
        skt:close()
      end)
    end
    local t0 = socket2.clock()
    while #got < 6 and socket2.clock() - t0 < 5 * H.SLOW do copas.step(0.1) end
    socket.protect, socket.newtry = protect, newtry
    package.loaded.copas = nil
    table.sort(got)
    assert.same({'1:1', '1:2', '1:3', '2:1', '2:2', '2:3'}, got)
  end)

  it('socket.smtp sends a message to python\'s smtpd', function()
    H.skip_unless(have, why_not)
    local srv, why = S.start('smtpd')
    H.skip_unless(srv, why)
    local smtp = require'socket.smtp'
    local ok, err = socket2.run(function()
      return smtp.send{
        from = '<from@example.test>',
        rcpt = {'<one@example.test>', '<two@example.test>'},
        server = '127.0.0.1', port = srv.port,
        source = smtp.message{
          headers = {subject = 'socket2 says hello', to = 'one@example.test'},
          body = 'a body\r\nof two lines',
        },
      }
    end)
    assert.is_nil(err)
    assert.equal(1, ok)
    local log
    local t0 = socket2.clock()
    repeat
      log = S.file(srv, 'log')
      if log:find('of two lines', 1, true) then break end
      socket2.sleep(0.02)
    until socket2.clock() - t0 > 5
    S.stop(srv)
    assert.matches('socket2 says hello', log)
    assert.matches('of two lines', log)
    -- a refused port: the error comes back
    local r, e = smtp.send{from = '<a@b>', rcpt = '<c@d>', server = '127.0.0.1', port = S.free_port(),
      source = smtp.message{body = 'x'}}
    assert.same({nil, 'connection refused'}, {r, e})
  end)
end)
