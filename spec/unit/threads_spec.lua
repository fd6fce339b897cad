-- spec/unit/threads_spec.lua: what a server needs from its threads: an
-- error ends only the thread that raised it (socket.onerror), join and
-- kill, and cancel() leaving a socket usable at once. Every backend.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local clock = socket.clock

-- Runs f with io.stderr replaced; returns what was written to it.
local function stderr_of(f)
  local saved, out = io.stderr, {}
  -- luacheck: ignore 122 (io.stderr is replaced on purpose)
  io.stderr = {write = function(_, ...) for i = 1, select('#', ...) do out[#out + 1] = tostring(select(i, ...)) end end}
  local ok, err = pcall(f)
  io.stderr = saved
  assert(ok, err)
  return table.concat(out)
end

describe('threads', function()
  after_each(H.no_leaks)

  describe('an error in a thread', function()
    it('ends that thread only: the loop and the other threads go on', function()
      local l, port = H.listener()
      local served = 0
      socket.newthread(function()
        for _ = 1, 2 do
          local c = assert(l:accept())
          socket.newthread(function()
            local st = socket.stream(c)
            local line = assert(st:readline())
            if line == 'bad' then error('handler bug on ' .. line) end
            assert(st:write('ok ', line, '\n'))
            assert(st:flush())
            served = served + 1
            c:close()
          end)
        end
      end)
      local errs = stderr_of(function()
        local bad = assert(socket.connect('127.0.0.1', port))
        assert(bad:send('bad\n'))
        local good = assert(socket.connect('127.0.0.1', port))
        assert(good:send('good\n'))
        assert.equal('ok good', socket.stream(good):readline())
        good:close(); bad:close()
      end)
      assert.equal(1, served)
      assert.matches('handler bug on bad', errs)
      assert.matches('stack traceback', errs)
      l:close()
      -- the dead handler's connection: nobody refers to it, the GC closes it
      assert.equal(1, socket.stats().slots)
      collectgarbage(); collectgarbage()
      socket.poll(0)
      assert.equal(0, socket.stats().slots)
    end)

    it('before its first wait: newthread returns the thread; the error goes to the handler', function()
      local got = {}
      local old = socket.onerror(function(t, err, tb) got[#got + 1] = {t, err, tb} end)
      local t = socket.newthread(function() error({code = 42}) end)
      socket.onerror(old)
      assert.equal(1, #got)
      assert.equal(t, got[1][1])
      assert.same({code = 42}, got[1][2]) -- the error value as raised
      assert.matches('stack traceback', got[1][3])
      assert.same({false, {code = 42}}, {socket.join(t)})
    end)

    it('socket.onerror returns the handler it replaced; nil restores the default', function()
      local f = function() end
      local default = socket.onerror(f)
      assert.is_function(default)
      assert.equal(f, socket.onerror(nil))
      assert.equal(default, socket.onerror(nil))
      assert.matches("bad argument #1 to 'onerror'", H.err_of(socket.onerror, 'no'))
    end)

    it('a handler that raises stops whatever runs the loop; the loop works afterwards', function()
      local old = socket.onerror(function(_, _, tb) error(tb, 0) end)
      local other_done = false
      socket.newthread(function() socket.sleep(0.01); error('loop-error-1') end)
      socket.newthread(function() socket.sleep(0.02); other_done = true end)
      local ok, err = pcall(socket.start)
      assert.is_false(ok)
      assert.matches('loop%-error%-1', tostring(err))
      socket.onerror(old)
      assert.is_true(socket.start())
      assert.is_true(other_done)
    end)

    it('socket.run returns f\'s results and raises f\'s own error, not through the handler', function()
      local called = false
      local old = socket.onerror(function() called = true end)
      assert.same({1, nil, 3}, {socket.run(function(a) socket.sleep(0.001); return a, nil, 3 end, 1)})
      local err = H.err_of(socket.run, function() socket.sleep(0.001); error('own error') end)
      socket.onerror(old)
      assert.matches('own error', err)
      assert.matches('traceback', err)
      assert.is_false(called)
    end)
  end)

  describe('join', function()
    it('waits for a thread and returns true and what it returned', function()
      local t = socket.newthread(function(a, b) socket.sleep(0.01); return a, nil, b end, 'x', 2)
      local r
      socket.newthread(function() r = {socket.join(t)} end)
      assert.is_nil(r)
      socket.start(5)
      assert.same({true, 'x', nil, 2}, r)
      assert.equal(4, select('#', socket.join(t))) -- again, at once
    end)

    it('returns false and the error of a thread that raised, or false, killed', function()
      local old = socket.onerror(function() end)
      local t = socket.newthread(function() socket.sleep(0.01); error('died', 0) end)
      assert.same({false, 'died'}, {socket.join(t)})
      socket.onerror(old)
      local k = socket.newthread(function() socket.sleep(10) end)
      assert.is_true(socket.kill(k))
      assert.same({false, 'killed'}, {socket.join(k)})
    end)

    it('several threads may join one; a timeout returns nil, timeout and leaves it running', function()
      local t = socket.newthread(function() socket.sleep(0.05); return 'done' end)
      local got = {}
      for i = 1, 3 do socket.newthread(function() got[i] = {socket.join(t)} end) end
      local t0 = clock()
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {socket.join(t, 0.01)})
      assert.is_true(clock() - t0 < 0.04 * H.SLOW)
      assert.same({true, 'done'}, {socket.join(t)}) -- outside a thread: runs the loop
      socket.start(1)
      for i = 1, 3 do assert.same({true, 'done'}, got[i]) end
    end)

    it('misuse: something that is no thread; a thread joining itself', function()
      assert.matches("bad argument #1 to 'join'", H.err_of(socket.join, coroutine.create(print)))
      assert.matches("bad argument #1 to 'join'", H.err_of(socket.join, 'thread'))
      local err
      socket.newthread(function() err = H.err_of(socket.join, socket.currentthread()) end)
      assert.matches('cannot join itself', err)
    end)
  end)

  describe('kill', function()
    it('a sleeping thread never resumes; its timer is withdrawn', function()
      local resumed = false
      local t = socket.newthread(function() socket.sleep(0.02); resumed = true end)
      assert.equal(1, socket.stats().timers)
      assert.is_true(socket.kill(t))
      assert.equal(0, socket.stats().timers)
      assert.equal(0, socket.stats().waiting)
      socket.sleep(0.05)
      assert.is_false(resumed)
      assert.is_false(socket.kill(t))
    end)

    it('a thread parked in recv never resumes; another thread reads the socket at once', function()
      local c, s = H.pair()
      local buf1 = ffi.new'uint8_t[16]'
      local resumed = false
      local t = socket.newthread(function() c:recv(buf1, 16); resumed = true end)
      assert.is_true(socket.kill(t))
      local got
      socket.newthread(function()
        local buf = ffi.new'uint8_t[16]'
        local n = assert(c:recv(buf, 16))
        got = ffi.string(buf, n)
      end)
      assert(s:send('hello'))
      H.wait_until(function() return got end, nil, 'the second reader')
      assert.equal('hello', got)
      assert.is_false(resumed)
      c:close(); s:close()
    end)

    it('threads parked in accept, in a full send, on join, on suspend, in a lookup', function()
      local l = H.listener()
      local c, s = H.pair()
      local resumed = 0
      local ts = {
        socket.newthread(function() l:accept(); resumed = resumed + 1 end),
        socket.newthread(function() c:sendall(('x'):rep(64 * 1024 * 1024)); resumed = resumed + 1 end),
        socket.newthread(function() socket.suspend(); resumed = resumed + 1 end),
      }
      local sleeper = socket.newthread(function() socket.sleep(0.05) end)
      ts[#ts + 1] = socket.newthread(function() socket.join(sleeper); resumed = resumed + 1 end)
      -- a name lookup (runs on a worker thread): 'localhost' is in /etc/hosts
      ts[#ts + 1] = socket.newthread(function() socket.addr('localhost', 80); resumed = resumed + 1 end)
      for _, t in ipairs(ts) do socket.kill(t) end
      socket.sleep(0.1)
      assert.equal(0, resumed)
      assert.equal(0, socket.stats().waiting)
      -- the sockets work on: accept; send (the peer reads nothing: it times out)
      local got
      socket.newthread(function() got = assert(l:accept()) end)
      local c2 = assert(socket.connect('127.0.0.1', l:getsockname():port()))
      H.wait_until(function() return got end, nil, 'the accept after the kill')
      local n, err = c:send('x', 1, 0.05)
      assert.truthy(n == 1 or err == 'timeout', tostring(err))
      got:close(); c2:close(); l:close(); c:close(); s:close()
    end)

    it('a thread woken but not yet run does not run', function()
      local ran = false
      local t = socket.newthread(function() socket.suspend(); ran = true end)
      socket.newthread(function()
        socket.resume(t) -- queued to run after this thread
        socket.kill(t)
      end)
      socket.start(1)
      assert.is_false(ran)
      assert.same({false, 'killed'}, {socket.join(t)})
    end)

    it('misuse: the running thread; something that is no thread', function()
      local err
      socket.newthread(function() err = H.err_of(socket.kill, socket.currentthread()) end)
      assert.matches('running thread', err)
      assert.matches("bad argument #1 to 'kill'", H.err_of(socket.kill, {}))
    end)
  end)

  describe('suspend', function()
    it('with a timeout: nil, timeout, ETIMEDOUT when nobody resumes it', function()
      local r
      socket.newthread(function() r = {socket.suspend(0.02)} end)
      socket.start(1)
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, r)
      local t = socket.newthread(function() r = {socket.suspend(5)} end)
      socket.resume(t, 'woken')
      socket.start(1)
      assert.same({'woken'}, r)
    end)
  end)

  describe('cancel', function()
    it('leaves the socket usable at once, before the canceled thread has run', function()
      local c, s = H.pair()
      local r1
      socket.newthread(function() r1 = {c:recv(ffi.new'uint8_t[4]', 4)} end)
      assert.equal(1, c:cancel())
      -- the canceled reader has not run yet; a new reader starts now
      local got
      socket.newthread(function()
        local buf = ffi.new'uint8_t[4]'
        got = {c:recv(buf, 4)}
        got[1] = got[1] and ffi.string(buf, got[1])
      end)
      assert(s:send('data'))
      H.wait_until(function() return got and r1 end, nil, 'both readers')
      assert.same({nil, 'canceled', 'ECANCELED'}, r1)
      assert.same({'data'}, got)
      -- and wait() after a canceled wait()
      local w1
      socket.newthread(function() w1 = {c:wait('r', 5)} end)
      c:cancel()
      assert.is_true(c:wait('w', 1))
      H.wait_until(function() return w1 end, nil, 'the canceled wait')
      assert.same({nil, 'canceled', 'ECANCELED'}, w1)
      c:close(); s:close()
    end)
  end)
end)
