-- spec/reliability/faults_spec.lua: what peers and the system do to a server, over
-- loopback: resets mid-stream, half-close, descriptor exhaustion, a slow
-- reader, idle half-open connections, and close() racing readiness events.
-- Each fault must give the caller a result (nil, err, code) and leave the
-- loop serving everyone else. (Packet loss, delay and silent peers need a
-- network namespace: spec/reliability/netfault_spec.lua.)
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local clock = socket.clock

pcall(ffi.cdef, [[
struct rlimit { uint64_t rlim_cur, rlim_max; };
int getrlimit(int resource, struct rlimit *rlim);
int setrlimit(int resource, const struct rlimit *rlim);
]])
local RLIMIT_NOFILE = 7
pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')

-- Drives the loop from the test body until pred() is true.
local wait_until = H.wait_until

-- VmRSS of this process in kB.
local function rss_kb()
  local f = assert(io.open('/proc/self/status'))
  local s = f:read'*a'
  f:close()
  return tonumber(s:match'VmRSS:%s*(%d+)')
end

-- A pair whose client side pings and whose server side echoes, forever,
-- in two threads: svc.rounds counts round trips; svc:stop() ends both.
local function echo_service()
  local c, s = H.pair()
  local svc = {rounds = 0, stopping = false, ended = 0}
  socket.newthread(function()
    local buf = ffi.new'uint8_t[64]'
    while true do
      local n = s:recv(buf, 64)
      if not n or n == 0 then break end
      assert(s:sendall(buf, n))
    end
    s:close()
    svc.ended = svc.ended + 1
  end)
  socket.newthread(function()
    local buf = ffi.new'uint8_t[4]'
    while not svc.stopping do
      assert(c:sendall('ping'))
      assert(c:recvall(buf, 4))
      assert(ffi.string(buf, 4) == 'ping')
      svc.rounds = svc.rounds + 1
    end
    c:close()
    svc.ended = svc.ended + 1
  end)
  function svc.stop()
    svc.stopping = true
    wait_until(function() return svc.ended == 2 end, 10, 'the echo service to end')
  end
  return svc
end

local function is_reset(r)
  return r[1] == nil and (r[2] == 'closed' or r[3] == 'ECONNRESET' or r[3] == 'EPIPE')
end

describe('faults', function()
  after_each(H.no_leaks)

  describe('peer reset (SO_LINGER 0 close)', function()
    it('during a parked recv: nil, ECONNRESET, while another connection keeps being served', function()
      local svc = echo_service()
      local c, s = H.pair()
      local r
      socket.newthread(function()
        r = {s:recv(ffi.new'uint8_t[16]', 16)}
      end)
      assert.is_nil(r) -- parked
      wait_until(function() return svc.rounds >= 20 end, 10, 'echo rounds')
      assert(c:setopt('linger', 0))
      c:close()
      wait_until(function() return r ~= nil end, 10, 'the reset to reach the reader')
      assert.is_true(is_reset(r), ('got %s, %s, %s'):format(tostring(r[1]), tostring(r[2]), tostring(r[3])))
      -- the error was reported once; the socket now reads EOF, it does not hang
      local n = s:recv(ffi.new'uint8_t[16]', 16, clock() + 5)
      assert.equal(0, n)
      local before = svc.rounds
      wait_until(function() return svc.rounds >= before + 20 end, 10, 'echo rounds after the reset')
      s:close()
      svc.stop()
    end)

    it('during a large sendall: nil, ECONNRESET or EPIPE with the bytes sent, others still served', function()
      local svc = echo_service()
      local c, s = H.pair()
      local LEN = 32 * 1024 * 1024
      local big = ffi.new('uint8_t[?]', LEN)
      local r
      socket.newthread(function() r = {s:sendall(big, LEN)} end)
      assert.is_nil(r) -- parked: the peer reads nothing
      wait_until(function() return svc.rounds >= 20 end, 10, 'echo rounds')
      assert(c:setopt('linger', 0))
      c:close()
      wait_until(function() return r ~= nil end, 10, 'the reset to reach the sender')
      assert.is_true(is_reset(r), ('got %s, %s, %s'):format(tostring(r[1]), tostring(r[2]), tostring(r[3])))
      assert.is_true(r[4] > 0 and r[4] < LEN, 'bytes sent: ' .. tostring(r[4]))
      -- a later send fails at once, it does not park
      local t0 = clock()
      local n, _, code = s:send('more', nil, clock() + 5)
      assert.is_nil(n)
      assert.is_true(code == 'EPIPE' or code == 'ECONNRESET', tostring(code))
      assert.is_true(clock() - t0 < 1 * H.SLOW)
      local before = svc.rounds
      wait_until(function() return svc.rounds >= before + 20 end, 10, 'echo rounds after the reset')
      s:close()
      svc.stop()
    end)

    it('before accept: accept still works and the connection reads as reset or EOF', function()
      local l, port = H.listener()
      local c = assert(socket.tcp())
      assert(c:connect('127.0.0.1', port))
      assert(c:setopt('linger', 0))
      c:close()
      local c2 = assert(socket.tcp())
      assert(c2:connect('127.0.0.1', port))
      -- the reset one is either skipped or accepted and reports the reset
      local s = assert(l:accept(clock() + 5))
      local n, _, code = s:recv(ffi.new'uint8_t[4]', 4, clock() + 0.2)
      if n == 0 or code == 'ECONNRESET' then
        s:close()
        s = assert(l:accept(clock() + 5)) -- the next one is c2
      end
      assert(c2:send('hi'))
      local buf = ffi.new'uint8_t[2]'
      assert.equal(2, s:recvall(buf, 2, clock() + 5))
      s:close(); c2:close(); l:close()
    end)

    it('a reset while a stream flushes its write buffer: nil, code; the data stays unsent', function()
      local c, s = H.pair()
      local st = socket.stream(s, 4096)
      local chunk = ('x'):rep(1024 * 1024)
      local r
      socket.newthread(function()
        for _ = 1, 64 do
          local ok, err, code = st:write(chunk)
          if not ok then r = {ok, err, code}; return end
        end
        r = {st:flush()}
      end)
      assert.is_nil(r)
      assert(c:setopt('linger', 0))
      c:close()
      wait_until(function() return r ~= nil end, 10, 'the writer')
      assert.is_true(is_reset(r), ('got %s, %s, %s'):format(tostring(r[1]), tostring(r[2]), tostring(r[3])))
      assert.is_true(st:nwritten() > 0)
      st:close()
      assert.is_true(s:closed())
    end)
  end)

  describe('half-close', function()
    it('peer shutdown(w): a parked reader wakes at EOF, reads keep returning 0, writes still work', function()
      local c, s = H.pair()
      local st = socket.stream(s)
      local lines, eof = {}, nil
      socket.newthread(function()
        while true do
          local line, err, code = st:readline()
          if not line then eof = {err, code}; break end
          lines[#lines + 1] = line
        end
      end)
      assert.is_nil(eof)
      assert(c:sendall('one\ntwo\n'))
      assert(c:shutdown('w'))
      wait_until(function() return eof ~= nil end, 10, 'EOF')
      assert.same({'one', 'two'}, lines)
      assert.same({'closed', 'EOF'}, eof)
      local buf = ffi.new'uint8_t[8]'
      for _ = 1, 3 do
        local t0 = clock()
        assert.equal(0, s:recv(buf, 8, clock() + 5))
        assert.is_true(clock() - t0 < 1 * H.SLOW) -- no parking at EOF
      end
      assert.is_true(s:wait('r', 1))
      -- the other direction: 1 MB still flows, then our FIN
      local MB = 1024 * 1024
      local data = ffi.new('uint8_t[?]', MB)
      for i = 0, MB - 1 do data[i] = i % 251 end
      local sent
      socket.newthread(function() sent = {s:sendall(data, MB)}; s:shutdown('w') end)
      local got = ffi.new('uint8_t[?]', MB)
      assert.equal(MB, c:recvall(got, MB, clock() + 10))
      assert.equal(0, ffi.C.memcmp(got, data, MB))
      assert.equal(0, c:recv(buf, 8, clock() + 5))
      wait_until(function() return sent ~= nil end)
      assert.equal(MB, sent[1])
      c:close(); s:close()
    end)
  end)

  describe('descriptor exhaustion', function()
    it('accept at EMFILE returns nil, err, EMFILE at once and resumes when descriptors free up', function()
      if H.VALGRIND then
        -- valgrind keeps descriptors of its own and fakes EMFILE itself (it
        -- accepts, closes, and says EMFILE: the connection is lost)
        pending('valgrind emulates the descriptor limit')
        return
      end
      H.skip_unless(not H.windows, 'Windows has no descriptor limit to lower (no setrlimit/RLIMIT_NOFILE; '
        .. 'a process may hold about 16 million handles)')
      local l, port = H.listener()
      local N = 8
      local clients = {}
      for i = 1, N do
        clients[i] = assert(socket.tcp())
        assert(clients[i]:connect('127.0.0.1', port))
      end
      local old = ffi.new'struct rlimit'
      assert(ffi.C.getrlimit(RLIMIT_NOFILE, old) == 0)
      -- the lowest free descriptor number: with the limit just above it,
      -- at most 2 more descriptors can be opened
      local open = {}
      for name in require'lfs'.dir('/proc/self/fd') do
        if tonumber(name) then open[tonumber(name)] = true end
      end
      local lowest = 0
      while open[lowest] do lowest = lowest + 1 end
      local accepted, emfile, other = {}, 0, nil
      local direct, dt, tcp_res, udp_res
      local ok, err = pcall(function()
        local lim = ffi.new('struct rlimit', lowest + 2, old.rlim_max)
        assert(ffi.C.setrlimit(RLIMIT_NOFILE, lim) == 0)
        -- fill the two slots, then the direct call fails at once
        for _ = 1, 6 do
          local t0 = clock()
          direct = {l:accept(clock() + 5)}
          dt = clock() - t0
          if not direct[1] then break end
          accepted[#accepted + 1] = direct[1]
        end
        tcp_res = {socket.tcp()}
        udp_res = {socket.udp()}
        -- a server loop that backs off on EMFILE
        socket.newthread(function()
          while #accepted < N do
            local s, _, code = l:accept(clock() + 10)
            if s then accepted[#accepted + 1] = s
            elseif code == 'EMFILE' then emfile = emfile + 1; socket.sleep(0.01)
            else other = code; return end
          end
        end)
        -- it meets EMFILE (on a completion backend its first accept starts
        -- at the loop's next wait, not inside newthread)
        wait_until(function() return emfile >= 1 or other end, 10, 'the first EMFILE')
        -- freeing descriptors lets it go on, still under the low limit
        local had = #accepted
        for i = 1, had do accepted[i]:close() end
        wait_until(function() return #accepted >= had * 2 or other end, 10, 'accepts after freeing descriptors')
      end)
      assert(ffi.C.setrlimit(RLIMIT_NOFILE, old) == 0) -- always restored
      if tcp_res and tcp_res[1] then tcp_res[1]:close() end
      if udp_res and udp_res[1] then udp_res[1]:close() end
      assert(ok, err)
      assert.is_nil(direct[1])
      assert.equal('EMFILE', direct[3])
      assert.is_string(direct[2])
      assert.is_true(dt < 1, 'accept at EMFILE took ' .. dt .. ' s')
      assert.is_nil(tcp_res[1]); assert.equal('EMFILE', tcp_res[3])
      assert.is_nil(udp_res[1]); assert.equal('EMFILE', udp_res[3])
      assert.is_true(emfile >= 1)
      -- with the limit restored every pending connection is accepted
      wait_until(function() return #accepted == N or other end, 10, 'all accepts')
      assert.is_nil(other)
      assert.equal(N, #accepted)
      -- the connections accepted after EMFILE work
      for i = N - 1, N do
        assert(accepted[i]:send('x'))
      end
      local got = 0
      for i = 1, N do
        local n = clients[i]:recv(ffi.new'uint8_t[1]', 1, clock() + 0.05)
        if n == 1 then got = got + 1 end
      end
      assert.equal(2, got)
      for i = 1, N do accepted[i]:close(); clients[i]:close() end
      l:close()
    end)
  end)

  describe('slow reader', function()
    it('100 MB to a peer reading 64 KB per ms: Lua heap and RSS stay bounded', function()
      local c, s = H.pair()
      assert(c:setopt('rcvbuf', 65536))
      local CH, COUNT = 1024 * 1024, 100
      local chunk = ffi.new('uint8_t[?]', CH)
      for i = 0, CH - 1 do chunk[i] = i % 251 end
      local buf = ffi.new('uint8_t[?]', 65536)
      collectgarbage()
      local gc0, rss0 = collectgarbage'count', rss_kb()
      local gcmax, rssmax = gc0, rss0
      local sent
      socket.newthread(function()
        for _ = 1, COUNT do assert(s:sendall(chunk, CH)) end
        sent = true
        s:close()
      end)
      local total, iter = 0, 0
      local bad = false
      while true do
        local n = assert(c:recv(buf, 65536, clock() + 10))
        if n == 0 then break end
        -- the pattern restarts every CH bytes: check every byte (every
        -- 61st under valgrind: it would take minutes)
        for i = 0, n - 1, H.VALGRIND and 61 or 1 do
          local off = (total + i) % CH
          if buf[i] ~= off % 251 then bad = true end
        end
        total = total + n
        iter = iter + 1
        if iter % 64 == 0 then
          local g, r = collectgarbage'count', rss_kb()
          if g > gcmax then gcmax = g end
          if r > rssmax then rssmax = r end
        end
        socket.sleep(0.001)
      end
      assert.is_true(sent)
      assert.is_false(bad, 'corrupted data')
      assert.equal(CH * COUNT, total)
      assert.is_true(gcmax - gc0 < 16 * 1024, ('Lua heap grew by %d kB'):format(gcmax - gc0))
      assert.is_true(rssmax - rss0 < 48 * 1024, ('RSS grew by %d kB'):format(rssmax - rss0))
      c:close()
    end)
  end)

  describe('idle half-open connections (slowloris)', function()
    it('200 silent or trickling clients are dropped at their deadline, a normal client is served at once', function()
      local l, port = H.listener()
      local DEADLINE = 1.5 * H.SLOW
      local dropped, served, first_drop = 0, 0, nil
      socket.newthread(function()
        while true do
          local s = l:accept()
          if not s then break end
          socket.newthread(function()
            local st = socket.stream(s)
            local line = st:readline(false, 1024, clock() + DEADLINE)
            if line then
              assert(s:sendall('ok ' .. line .. '\n'))
              served = served + 1
            else
              dropped = dropped + 1
              first_drop = first_drop or clock()
            end
            s:close()
          end)
        end
      end)
      local N = 200
      local gone = 0
      local t_start = clock()
      for i = 1, N do
        local c = assert(socket.tcp())
        assert(c:connect('127.0.0.1', port))
        local kind = i % 4
        socket.newthread(function()
          local buf = ffi.new'uint8_t[16]'
          if kind == 1 then
            assert(c:send('GET /index.html HTTP/1.1')) -- a partial line, then silence
          elseif kind == 2 then
            -- trickles one byte every 100 ms: the deadline is per request
            while c:send('x') do
              local n, _, code = c:recv(buf, 16, clock() + 0.1)
              if n == 0 or (n == nil and code ~= 'ETIMEDOUT') then break end
            end
          end
          -- kinds 0 and 3 send nothing at all
          while true do
            local n = c:recv(buf, 16)
            if not n or n == 0 then break end
          end
          gone = gone + 1
          c:close()
        end)
      end
      -- a normal client, while all of them hang on
      local t0 = clock()
      local n = assert(socket.tcp())
      assert(n:connect('127.0.0.1', port))
      local st = socket.stream(n)
      assert(st:write('hello\n'))
      assert.equal('ok hello', st:readline(false, 100, clock() + 10))
      local latency = clock() - t0
      assert.is_nil(first_drop, 'a client was dropped before the normal one was served')
      assert.is_true(latency < 1 * H.SLOW, ('normal client served in %.3f s'):format(latency))
      st:close()
      wait_until(function() return gone == N end, 20, 'all idle clients to be dropped')
      assert.equal(1, served)
      assert.equal(N, dropped)
      assert.is_true(first_drop - t_start >= DEADLINE - 0.05)
      l:close()
      socket.start(5)
    end)
  end)

  describe('close racing readiness', function()
    -- One listener per test (after_each counts it as a leak otherwise).
    local l, port
    local function pair()
      local server
      socket.newthread(function() server = assert(l:accept()) end)
      local c = assert(socket.tcp())
      assert(c:connect('127.0.0.1', port))
      wait_until(function() return server ~= nil end, 5, 'accept')
      return c, server
    end
    before_each(function() l, port = H.listener() end)
    after_each(function() l:close() end)

    it('a reader whose socket is closed by a thread woken in the same batch: no double resume, no lost data', function()
      math.randomseed(8)
      local K = 6
      local pairs_ = {}
      for i = 1, K do pairs_[i] = {pair()} end
      for iter = 1, 300 do
        -- every server side gets a reader; some readers, once woken, close
        -- another pair's server side (which already has its event queued)
        local results, ended = {}, {}
        local victims = {}
        for i = 1, K do
          local s = pairs_[i][2]
          local victim = math.random(K)
          local closer = math.random() < 0.4 and victim ~= i
          socket.newthread(function()
            local buf = ffi.new'uint8_t[64]'
            local n, err, code = s:recv(buf, 64)
            results[i] = n and ffi.string(buf, n) or {err, code}
            ended[i] = true
            if closer and not pairs_[victim][2]:closed() then
              victims[victim] = true
              pairs_[victim][2]:close()
              -- the freed slot is taken at once by a new socket
              local u = assert(socket.udp())
              u:close()
            end
          end)
        end
        -- all messages leave before the loop turns: one batch of events
        for i = 1, K do assert(pairs_[i][1]:send(('msg %d %d'):format(iter, i))) end
        wait_until(function()
          for i = 1, K do if not ended[i] then return false end end
          return true
        end, 10, 'every reader')
        for i = 1, K do
          local r = results[i]
          if type(r) == 'string' then
            assert.equal(('msg %d %d'):format(iter, i), r)
          else
            -- only a closed socket may fail, and only as 'closed'
            assert.is_true(victims[i] == true, ('reader %d failed: %s %s'):format(i, tostring(r[1]), tostring(r[2])))
            assert.equal('closed', r[1])
          end
        end
        -- replace what was closed
        for i = 1, K do
          if pairs_[i][2]:closed() then
            pairs_[i][1]:close()
            pairs_[i] = {pair()}
          end
        end
        local st = socket.stats()
        assert.equal(0, st.waiting)
        assert.equal(0, st.queued)
      end
      for i = 1, K do pairs_[i][1]:close(); pairs_[i][2]:close() end
    end)

    it('reader and writer of one socket, both woken in one batch, then closed by a third thread', function()
      for _ = 1, 100 do
        local c, s = pair()
        assert(s:setopt('sndbuf', 4096))
        assert(c:setopt('rcvbuf', 4096))
        local chunk = ffi.new'uint8_t[65536]'
        local rres, wres
        socket.newthread(function()
          local n, err = s:recv(ffi.new'uint8_t[16]', 16)
          rres = n or err
        end)
        socket.newthread(function()
          while true do
            local n, err = s:send(chunk, 65536)
            if not n then wres = err; return end
          end
        end)
        assert.is_nil(rres); assert.is_nil(wres) -- both parked
        local closer_ran = false
        local c2, s2 = pair()
        socket.newthread(function()
          s2:recv(ffi.new'uint8_t[1]', 1)
          closer_ran = true
          s:close()
        end)
        -- readable, writable (the peer drains) and the closer's event: one batch
        local drain = ffi.new'uint8_t[262144]'
        c:send('r')
        c:recv(drain, 262144)
        c2:send('z')
        wait_until(function() return rres ~= nil and wres ~= nil end, 10, 'reader and writer')
        assert.is_true(closer_ran)
        assert.is_true(rres == 1 or rres == 'closed', tostring(rres))
        assert.equal('closed', wres)
        c:close(); c2:close(); s2:close()
        assert.equal(0, socket.stats().waiting)
      end
    end)

    it('an error in one woken thread does not lose the wakeups queued behind it', function()
      -- a handler that raises stops the loop mid-queue: the worst case
      local old = socket.onerror(function(_, e) error(e, 0) end)
      finally(function() socket.onerror(old) end)
      for _ = 1, 50 do
        local c1, s1 = pair()
        local c2, s2 = pair()
        local got2
        socket.newthread(function()
          s1:recv(ffi.new'uint8_t[4]', 4)
          s2:close() -- s2's reader is queued already
          error('boom')
        end)
        socket.newthread(function()
          local buf = ffi.new'uint8_t[4]'
          local n, err = s2:recv(buf, 4)
          got2 = n and ffi.string(buf, n) or err
        end)
        -- each send from its own thread: on a proactor a send yields, and
        -- from the test body it would run the loop (and meet the error) before
        -- the second send went out; this way both go before the loop turns
        socket.newthread(function() c1:send('a') end)
        socket.newthread(function() c2:send('bbbb') end)
        local ok, err = pcall(wait_until, function() return got2 ~= nil end, 10, 'the second reader')
        if not ok then
          assert.matches('boom', tostring(err))
          wait_until(function() return got2 ~= nil end, 10, 'the second reader after the error')
        end
        assert.is_true(got2 == 'bbbb' or got2 == 'closed', tostring(got2))
        c1:close(); s1:close(); c2:close(); s2:close()
      end
    end)
  end)
end)
