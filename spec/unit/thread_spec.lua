-- spec/unit/thread_spec.lua: OS threads (socket2.thread) and several Lua states
-- sharing one kernel object. Nothing here waits on time: threads report
-- over sockets, and timeouts only turn a hang into a failure.
local socket = require'socket2'
local thread = require'socket2.thread'
local sched = require'socket2.sched'
local H = require'helpers'

local share_name = ({epoll = 'epoll_fd', kqueue = 'kqueue_fd', iocp = 'iocp', io_uring = 'io_uring_fd'})[socket.backend]
-- io_uring shares no events (each thread's ring only shares the kernel's
-- workers: IORING_SETUP_ATTACH_WQ), but the same test runs on it
local shared_ok = share_name ~= nil

describe('socket2.thread', function()
  after_each(H.no_leaks)

  it('runs a function in a new Lua state with arguments and results', function()
    local t = thread.new(function(...) return select('#', ...), ... end, 'a\0b', 1.5, true, nil, false)
    assert.same({true, 5, 'a\0b', 1.5, true, nil, false}, {t:join()})
  end)

  it('runs Lua source too', function()
    local t = thread.new('local a, b = ...; return a .. b', 'x', 'y')
    assert.same({true, 'xy'}, {t:join()})
  end)

  it('keeps numbers exact, infinities and NaN', function()
    local t = thread.new(function(...) return ... end, 2^53, -0.1, 1/0, -1/0, 0/0, 123456789012)
    local ok, a, b, c, d, e, f = t:join()
    assert.is_true(ok)
    assert.equal(2^53, a); assert.equal(-0.1, b); assert.equal(1/0, c); assert.equal(-1/0, d)
    assert.is_true(e ~= e)
    assert.equal(123456789012, f)
  end)

  it('the new state is fresh: no globals of ours, socket2 loads there', function()
    MY_GLOBAL = 1 -- luacheck: ignore
    local t = thread.new(function()
      local s = require'socket2'
      return MY_GLOBAL == nil, s.backend, s.stats().slots -- luacheck: ignore
    end)
    assert.same({true, true, socket.backend, 0}, {t:join()})
    MY_GLOBAL = nil -- luacheck: ignore
  end)

  it('an error in the thread comes back from join() with its traceback', function()
    local t = thread.new(function() local x = nil; return x.field end)
    local ok, err = t:join()
    assert.is_false(ok)
    assert.matches('attempt to index', err)
    assert.matches('stack traceback', err)
  end)

  it('a result that cannot cross is an error of the thread', function()
    local ok, err = thread.new(function() return {} end):join()
    assert.is_false(ok)
    assert.matches('result #1: a table cannot cross', err)
  end)

  it('refuses what cannot run in another state', function()
    local up = 1
    assert.has_error(function() thread.new(function() return up end) end,
      "bad argument #1 to 'thread.new' (the function uses 1 upvalue(s) (up): it runs in a new Lua state; "
      .. 'require modules inside it and pass values as arguments)')
    assert.has_error(function() thread.new(print) end,
      "bad argument #1 to 'thread.new' (Lua function expected, got a C function)")
    assert.has_error(function() thread.new('this is not Lua') end)
    assert.has_error(function() thread.new(42) end,
      "bad argument #1 to 'thread.new' (function or Lua source string expected, got number)")
    assert.has_error(function() thread.new(function() end, 1, {}) end,
      "bad argument #3 to 'thread.new' (a table cannot cross to another Lua state (nil, boolean, number, string only))")
  end)

  it('join() twice, or after detach(), is a usage error', function()
    local t = thread.new(function() end)
    assert.is_true(t:join())
    assert.has_error(function() t:join() end, 'join: thread already joined or detached')
    local d = thread.new(function() return 1 end)
    d:detach()
    assert.has_error(function() d:join() end, 'join: thread already joined or detached')
  end)

  it('join() inside a socket2 thread parks only that thread', function()
    -- the thread cannot end before this state answers it: a join that
    -- blocked the OS thread would deadlock here
    local l, port = H.listener()
    local t = thread.new(function(p)
      local s2 = require'socket2'
      local c = assert(s2.tcp())
      c:settimeout(30)
      assert(c:connect('127.0.0.1', p))
      local st = s2.stream(c)
      assert(st:write'ping\n')
      local answer = assert(st:readline())
      c:close()
      return answer
    end, port)
    local joined
    socket.newthread(function() joined = {t:join()} end)
    assert.is_nil(joined)
    socket.run(function()
      local c = assert(l:accept())
      local st = socket.stream(c)
      assert.equal('ping', st:readline())
      st:write'pong\n'
      st:flush()
      c:close()
    end)
    l:close()
    while not joined do socket.poll() end
    assert.same({true, 'pong'}, joined)
  end)

  it('a state that ends closes the sockets it left open', function()
    local l, port = H.listener()
    local t = thread.new(function(p)
      local s2 = require'socket2'
      local c = assert(s2.tcp())
      assert(c:connect('127.0.0.1', p))
      local buf = require'ffi'.new'uint8_t[1]'
      assert(c:recv(buf, 1, s2.clock() + 0.001) == nil) -- registered, then timed out
      return true -- c stays open
    end, port)
    local c = assert(l:accept())
    assert.same({true, true}, {t:join()})
    local buf = require'ffi'.new'uint8_t[1]'
    c:settimeout(30)
    assert.equal(0, c:recv(buf, 1)) -- EOF: its state closed it
    c:close()
    l:close()
  end)
end)

describe('one kernel object shared by several OS threads', function()
  after_each(H.no_leaks)

  if not shared_ok then
    pending('the ' .. socket.backend .. ' backend has no kernel object to share')
    return
  end

  local mt = require'unit.mt_worker'

  -- nthreads worker states, each serving its listener and running nconns
  -- clients against the next one's, with the main state coordinating over
  -- control connections; returns the summed counts and the join results.
  local function run_mt(nthreads, nconns)
    local h = socket[share_name]()
    local ctl, cport = H.listener()
    local ts, joins, sum = {}, {}, {}
    for i = 1, nthreads do
      ts[i] = assert(thread.new("return require'unit.mt_worker'.run(...)", h, i, nthreads, nconns, cport, share_name))
    end
    socket.run(function()
      local conns, ports = {}, {}
      for _ = 1, nthreads do
        local c = assert(ctl:accept(socket.clock() + 60))
        c:settimeout(60)
        local st = socket.stream(c)
        local me, port = assert(st:readline()):match'^port (%d+) (%d+)$'
        conns[tonumber(me)], ports[tonumber(me)] = st, port
      end
      ctl:close()
      local go = 'go ' .. table.concat(ports, ' ') .. '\n'
      for i = 1, nthreads do conns[i]:write(go); conns[i]:flush() end
      for i = 1, nthreads do conns[i]:readline() end -- 'done' (or nil: it died)
      for i = 1, nthreads do conns[i]:write'stop\n'; conns[i]:flush() end
      for i = 1, nthreads do joins[i] = {ts[i]:join()} end
      for i = 1, nthreads do conns[i]:close() end
    end)
    for i = 1, nthreads do
      assert.is_true(joins[i][1], joins[i][2])
      for k, v in joins[i][2]:gmatch'([%w_]+)=([^,]+)' do
        sum[k] = tonumber(v) and (sum[k] or 0) + tonumber(v) or v
      end
    end
    return sum
  end

  it('4 threads x 200 connections: every byte arrives, checked, in the right state', function()
    local nthreads, nconns = 4, tonumber(os.getenv'SOCKET2_MT_CONNS') or 200
    local n, aborted, srv_aborted = 0, 0, 0
    for c = 1, nconns do
      local m = mt.mode(c)
      if m == 'n' then n = n + 1 else aborted = aborted + 1 end
      if m == 's' then srv_aborted = srv_aborted + 1 end
    end
    local sum = run_mt(nthreads, nconns)
    if os.getenv'SOCKET2_MT_VERBOSE' then for k, v in pairs(sum) do print(k, v) end end
    assert.is_nil(sum.first)           -- the first error any thread saw
    assert.equal(0, sum.bad)           -- a byte that was not what was sent
    assert.equal(0, sum.wrong_thread)  -- a header from the wrong state
    assert.equal(0, sum.errors)
    assert.equal(nthreads * n, sum.client_ok)
    assert.equal(nthreads * n, sum.served)
    assert.equal(nthreads * aborted, sum.client_aborted)
    assert.equal(nthreads * srv_aborted, sum.srv_aborted)
    assert.is_true(sum.bytes > nthreads * n * 1000)
  end)

  it('a socket moves to another state with release() and socket.wrap()', function()
    -- an acceptor in this state hands a connection over: its registration
    -- in the shared object gets the new owner
    local h = socket[share_name]()
    local l, port = H.listener()
    local c = assert(socket.tcp())
    assert(c:connect('127.0.0.1', port))
    local s = assert(l:accept())
    local buf = require'ffi'.new'uint8_t[1]'
    assert.is_nil(s:recv(buf, 1, socket.clock() + 0.001)) -- registered here first
    local fd = s:release()
    local t = thread.new(function(hh, name, f)
      local s2 = require'socket2'
      s2[name](hh)
      local sock = assert(s2.wrap(f))
      sock:settimeout(30)
      local st = s2.stream(sock)
      local line = assert(st:readline())
      assert(st:write(line:upper() .. '\n'))
      assert(st:flush())
      sock:close()
      return line
    end, h, share_name, fd)
    c:settimeout(30)
    local st = socket.stream(c)
    socket.run(function()
      assert(st:write'moved\n')
      assert.equal('MOVED', st:readline())
    end)
    assert.same({true, 'moved'}, {t:join()})
    c:close(); l:close()
  end)

  it('the main state keeps working on the shared object meanwhile', function()
    -- the main state owns sockets too; after the workers it still gets its
    -- own events and none of theirs
    local c, s = H.pair()
    local buf = require'ffi'.new'uint8_t[8]'
    assert(c:send'hi')
    assert.equal(2, s:recv(buf, 8))
    c:close(); s:close()
    assert.equal(0, sched.stats().slots)
  end)
end)
