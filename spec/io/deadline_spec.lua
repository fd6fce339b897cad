-- spec/io/deadline_spec.lua: time arguments. Every call that can wait takes
-- one, which is a timeout (seconds from now) or a deadline (a
-- socket.clock() time); it bounds the whole call however the peer paces
-- its bytes; without one the socket's settimeout() does, likewise. A
-- connect that timed out leaves a socket that says why it cannot connect
-- again. Every backend.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local clock = socket.clock

-- A peer that sends one byte of s every gap seconds until s is out or the
-- socket closes (a slowloris, or a dripping server).
local function drip(sock, s, gap)
  return socket.newthread(function()
    for i = 1, #s do
      if not sock:send(s:sub(i, i)) then return end
      socket.sleep(gap)
    end
  end)
end

-- Runs f(...) and returns how long it took and what it returned.
local function timed(f, ...)
  local t0 = clock()
  local r = H.pack(f(...))
  return clock() - t0, r
end

describe('time arguments', function()
  after_each(H.no_leaks)

  it('a number below 10^9 is a timeout in seconds, a socket.clock() time a deadline', function()
    local c, s = H.pair()
    local buf = ffi.new'uint8_t[4]'
    local dt, r = timed(c.recv, c, buf, 4, 0.05)
    assert.same({n = 3, nil, 'timeout', 'ETIMEDOUT'}, r)
    assert.is_true(dt >= 0.04 and dt < 1 * H.SLOW, tostring(dt))
    dt, r = timed(c.recv, c, buf, 4, clock() + 0.05)
    assert.same({n = 3, nil, 'timeout', 'ETIMEDOUT'}, r)
    assert.is_true(dt >= 0.04 and dt < 1 * H.SLOW, tostring(dt))
    -- what a newcomer writes for "five seconds" means five seconds
    assert(s:send('hi'))
    assert.equal(2, c:recv(buf, 4, 5))
    -- a negative timeout has passed already
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {c:recv(buf, 4, -1)})
    assert.is_true(clock() > 2 ^ 32)
    c:close(); s:close()
  end)

  it('a time from another clock is refused with an explanation', function()
    local c, s = H.pair()
    local err = H.err_of(c.recv, c, ffi.new'uint8_t[4]', 4, os.time())
    assert.matches("bad argument #3 to 'recv'", err)
    assert.matches('os%.time', err)
    c:close(); s:close()
  end)

  it('on a connected datagram socket the timeout comes where it does for a stream', function()
    local a, pa = H.udp_bound()
    local b = assert(socket.udp())
    assert(b:connect('127.0.0.1', pa))
    assert.equal(2, b:send('hi', nil, 0.5))
    assert.equal(2, b:send('hi', 2, clock() + 0.5, nil))
    local buf = ffi.new'uint8_t[8]'
    assert.equal(2, a:recv(buf, 8, 1))
    a:close(); b:close()
  end)
end)

describe('a timeout bounds the whole call', function()
  after_each(H.no_leaks)

  for _, how in ipairs{'per call', 'settimeout'} do
    it(('stream reads against a peer that drips bytes (%s)'):format(how), function()
      local c, s = H.pair()
      local st = socket.stream(c)
      local t = how == 'per call' and 0.3 or nil
      if not t then st:settimeout(0.3) end
      local dripper = drip(s, ('x'):rep(100) .. '\n', 0.02)
      for _, call in ipairs{
        function() return st:readline(false, nil, t) end,
        function() return st:read(1000, t) end,
        function() return st:readuntil('\n\n', nil, t) end,
      } do
        local dt, r = timed(call)
        assert.same({n = 3, nil, 'timeout', 'ETIMEDOUT'}, r)
        assert.is_true(dt < 1.5 * H.SLOW, 'took ' .. dt .. ' s')
      end
      socket.kill(dripper)
      c:close(); s:close()
    end)
  end

  it('recvall against a dripping peer; sendall against a peer that does not read', function()
    local c, s = H.pair()
    local dripper = drip(s, ('x'):rep(200), 0.02)
    local buf = ffi.new'uint8_t[1000]'
    local dt, r = timed(c.recvall, c, buf, 1000, 0.3)
    assert.equal('timeout', r[2])
    assert.is_true(r[4] > 0 and r[4] < 1000) -- what it got
    assert.is_true(dt < 1.5 * H.SLOW, 'took ' .. dt .. ' s')
    socket.kill(dripper)
    dt, r = timed(c.sendall, c, ('y'):rep(64 * 1024 * 1024), nil, 0.3)
    assert.equal('timeout', r[2])
    assert.is_true(dt < 1.5 * H.SLOW, 'took ' .. dt .. ' s')
    local st = socket.stream(c)
    st:settimeout(0.2)
    dt, r = timed(st.write, st, ('z'):rep(4 * 1024 * 1024)) -- fills the buffer: flushes
    assert.equal('timeout', r[2])
    assert.is_true(dt < 1.5 * H.SLOW, 'took ' .. dt .. ' s')
    assert.is_true(st:nwritten() > 0) -- kept
    dt, r = timed(st.flush, st, 0.2)
    assert.equal('timeout', r[2])
    assert.is_true(dt < 1.5 * H.SLOW, 'took ' .. dt .. ' s')
    c:close(); s:close()
  end)

  it('accept, and connect to a listener whose queue is full', function()
    local l = assert(socket.tcp())
    assert(l:bind('127.0.0.1', 0))
    assert(l:listen(0)) -- one connection waits; the next ones are not answered
    local port = l:getsockname():port()
    local waiting = {}
    local t0 = clock()
    local timed_out
    for i = 1, 4 do
      local c = assert(socket.tcp())
      local ok, err, code = c:connect('127.0.0.1', port, 0.2)
      waiting[i] = c
      if not ok then
        assert.equal('ETIMEDOUT', code, err)
        timed_out = c
        break
      end
    end
    if not timed_out then pending('this kernel answered every connect') end
    assert.is_true(clock() - t0 < 2 * H.SLOW)
    -- connecting again on that socket says what to do
    local ok, err, code = timed_out:connect('127.0.0.1', port, 0.2)
    assert.is_nil(ok)
    assert.equal('EALREADY', code)
    assert.matches('close the socket and connect a new one', err)
    for _, c in ipairs(waiting) do c:close() end
    l:close()
    local l2 = H.listener()
    local dt, r = timed(l2.accept, l2, 0.1)
    assert.same({n = 3, nil, 'timeout', 'ETIMEDOUT'}, r)
    assert.is_true(dt < 1 * H.SLOW)
    l2:close()
  end)
end)
