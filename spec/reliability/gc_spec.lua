-- spec/reliability/gc_spec.lua: forgotten sockets. A socket nothing refers
-- to any more is closed by the garbage collector (descriptor, slot,
-- registration); one a parked thread waits on is reachable and stays open;
-- a socket closed explicitly is never closed twice. Every backend.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

-- Open descriptors of this process (Linux: /proc/self/fd), or nil.
local function nfds()
  local p = io.popen('ls /proc/' .. (H.windows and 'none' or 'self') .. '/fd 2>/dev/null | wc -l')
  if not p then return nil end
  local n = tonumber(p:read'*a')
  p:close()
  return n and n > 0 and n or nil
end

-- Collects and lets the loop close what was collected.
local function collect()
  collectgarbage(); collectgarbage()
  socket.poll(0)
end

describe('garbage collection', function()
  after_each(H.no_leaks)

  it('500 forgotten connections are closed: slots and descriptors come back', function()
    local l, port = H.listener()
    local fds0, slots0 = nfds(), socket.stats().slots
    local accepted = 0
    local acceptor = socket.newthread(function()
      while true do
        local c = l:accept()
        if not c then return end
        accepted = accepted + 1 -- and forgotten
      end
    end)
    for _ = 1, 500 do assert(socket.connect('127.0.0.1', port)) end -- forgotten too
    H.wait_until(function() return accepted == 500 end, nil, 'the accepts')
    collect()
    assert.equal(slots0, socket.stats().slots)
    if fds0 then assert.equal(fds0, nfds()) end
    l:close()
    assert.is_true(socket.join(acceptor))
  end)

  it('a socket a parked thread waits on stays open and receives', function()
    local l, port = H.listener()
    local got
    socket.newthread(function()
      local c = assert(l:accept()) -- only this thread's stack refers to c
      local buf = ffi.new'uint8_t[16]'
      local n = assert(c:recv(buf, 16))
      got = ffi.string(buf, n)
      c:close()
    end)
    local c = assert(socket.connect('127.0.0.1', port))
    H.wait_until(function() return socket.stats().waiting == 1 end, nil, 'the reader to park')
    collect()
    assert(c:send('still here'))
    H.wait_until(function() return got end, nil, 'the parked reader')
    assert.equal('still here', got)
    c:close(); l:close()
  end)

  it('close() followed by collection closes nothing twice', function()
    local l, port = H.listener()
    local a = assert(socket.connect('127.0.0.1', port))
    local fd = a:fileno()
    a:close()
    a = nil -- luacheck: ignore
    -- the next socket gets the same descriptor number
    local b = assert(socket.connect('127.0.0.1', port))
    local same = b:fileno() == fd
    collect()
    assert.is_false(b:closed())
    assert.is_true(b:send('x') == 1)
    assert.is_nil(b:getopt'error')
    if same then assert.equal(fd, b:fileno()) end
    local ca = assert(l:accept()) -- a's connection: a was closed
    assert.equal(0, ca:recv(ffi.new'uint8_t[1]', 1))
    local cb = assert(l:accept())
    assert.equal(1, cb:recv(ffi.new'uint8_t[1]', 1))
    b:close(); ca:close(); cb:close(); l:close()
  end)

  it('a released descriptor is not closed by the collection of its old socket', function()
    local u = assert(socket.udp())
    local fd = u:release()
    u = nil -- luacheck: ignore
    collect()
    local w = assert(socket.wrap(fd)) -- still open: it can be adopted
    w:close()
  end)

  it('a forgotten unix listener is closed and its socket file removed', function()
    if not H.has_unix() then pending(H.NO_UNIX) return end
    local path = H.tmppath'.sock'
    do
      local l = assert(socket.unix())
      assert(l:listen(path))
    end
    local function exists(p) return os.rename(p, p) ~= nil end
    assert.is_true(exists(path))
    collect()
    assert.is_false(exists(path))
    local c = assert(socket.unix())
    assert.is_nil((c:connect(path)))
    c:close()
  end)
end)
