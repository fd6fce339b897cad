-- spec/io/select_spec.lua: waiting on several things at once. socket.select
-- (LuaSocket's contract: the ready sockets, each array also mapping a
-- socket to its index; nil, 'timeout' when none got ready) and
-- socket.wrap(fd, 'fd'): a readiness wait on any pollable descriptor.
-- Every backend; the descriptor kinds that only Linux has are pending
-- elsewhere.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local linux = ffi.os == 'Linux'
if linux then
  pcall(ffi.cdef, [[
    int pipe(int fd[2]);
    int eventfd(unsigned int initval, int flags);
    int inotify_init1(int flags);
    int inotify_add_watch(int fd, const char *path, uint32_t mask);
    int posix_openpt(int flags);
    int grantpt(int fd);
    int unlockpt(int fd);
    char *ptsname(int fd);
    long write(int fd, const void *buf, size_t n);
    long read(int fd, void *buf, size_t n);
  ]])
end

describe('select', function()
  after_each(H.no_leaks)

  it('returns what is ready at once, doubly keyed', function()
    local a1, b1 = H.pair()
    local a2, b2 = H.pair()
    assert(b2:send('x'))
    assert.is_true(a2:wait('r', 1))
    local r, w = socket.select({a1, a2}, {b1}, 1)
    assert.same({a2, [a2] = 1}, r)
    assert.same({b1, [b1] = 1}, w)
    a1:close(); b1:close(); a2:close(); b2:close()
  end)

  it('parks until one is readable; other threads run meanwhile', function()
    local a1, b1 = H.pair()
    local a2, b2 = H.pair()
    local r
    socket.newthread(function() r = {socket.select({a1, a2}, nil, 5)} end)
    assert.is_nil(r)
    socket.newthread(function() socket.sleep(0.01); assert(b1:send('hello')) end)
    H.wait_until(function() return r end, nil, 'select')
    assert.same({{a1, [a1] = 1}, {}}, r)
    -- the sockets are free again: read what woke it
    local buf = ffi.new'uint8_t[8]'
    assert.equal(5, a1:recv(buf, 8))
    a1:close(); b1:close(); a2:close(); b2:close()
  end)

  it('times out: nil, timeout, ETIMEDOUT; 0 only looks', function()
    local a, b = H.pair()
    local t0 = socket.clock()
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {socket.select({a}, nil, 0.02)})
    assert.is_true(socket.clock() - t0 >= 0.015)
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {socket.select({a}, nil, 0)})
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {socket.select(nil, nil, 0.01)})
    -- a deadline works as well as a timeout
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {socket.select({a}, {}, socket.clock() + 0.01)})
    a:close(); b:close()
  end)

  it('a listener with a pending connection is readable', function()
    local l, port = H.listener()
    local c
    socket.newthread(function() socket.sleep(0.01); c = assert(socket.connect('127.0.0.1', port)) end)
    local r = assert(socket.select({l}, nil, 5))
    assert.equal(l, r[1])
    local s = assert(l:accept())
    s:close(); c:close(); l:close()
  end)

  it('closing a socket under it ends it with closed; cancel with canceled', function()
    local a, b = H.pair()
    local r
    socket.newthread(function() r = {socket.select({a}, nil, 5)} end)
    a:close()
    H.wait_until(function() return r end, nil, 'select')
    assert.same({nil, 'closed', 'ECANCELED'}, r)
    local c, d = H.pair()
    r = nil
    socket.newthread(function() r = {socket.select({c}, nil, 5)} end)
    assert.equal(1, c:cancel())
    H.wait_until(function() return r end, nil, 'select')
    assert.same({nil, 'canceled', 'ECANCELED'}, r)
    b:close(); c:close(); d:close()
  end)

  it('misuse: not an array, not a socket, a closed socket, a socket another thread reads', function()
    local a, b = H.pair()
    assert.matches("bad argument #1 to 'select'", H.err_of(socket.select, 'x'))
    assert.matches("bad argument #2 to 'select'", H.err_of(socket.select, nil, {1}))
    assert.matches("bad argument #3 to 'select'", H.err_of(socket.select, {a}, nil, 'soon'))
    assert.matches('no socket to wait for', H.err_of(socket.select, {}, {}))
    socket.newthread(function() a:recv(ffi.new'uint8_t[1]', 1) end)
    assert.matches('already reading', H.err_of(socket.select, {a}, nil, 0))
    a:close()
    assert.matches('closed', H.err_of(socket.select, {a}, nil, 0))
    b:close()
    socket.start(1) -- the reader ends with 'closed'
  end)
end)

describe('non-blocking mode with select and wait', function()
  after_each(H.no_leaks)

  it('a call that select or wait found ready tries its syscall', function()
    local l, port = H.listener()
    local c = assert(socket.tcp())
    c:setblocking(false)
    local ok, _, code = c:connect('127.0.0.1', port)
    assert.truthy(ok or code == 'EINPROGRESS')
    assert.is_true(c:wait('w', 1))
    local s = assert(l:accept())
    local buf = ffi.new'uint8_t[8]'
    assert.same({nil, 'would block', 'EAGAIN'}, {c:recv(buf, 8)})
    assert(s:send('hi'))
    assert(socket.select({c}, nil, 1))
    assert.equal(2, c:recv(buf, 8))
    assert.same({nil, 'would block', 'EAGAIN'}, {c:recv(buf, 8)})
    assert(s:send('yo'))
    assert.is_true(c:wait('r', 1))
    assert.equal(2, c:recv(buf, 8))
    c:close(); s:close(); l:close()
  end)
end)

describe('wrap(fd, \'fd\')', function()
  after_each(H.no_leaks)

  it('waits on a socket descriptor too, and select takes it', function()
    local a, b = H.pair()
    local w = assert(socket.wrap(assert(a:release()), 'fd'))
    assert.equal('fd', w:kind())
    assert.same({nil, 'timeout', 'ETIMEDOUT'}, {w:wait('r', 0.01)})
    assert(b:send('x'))
    assert.is_true(w:wait('r', 1))
    assert.equal(w, (socket.select({w}, nil, 1))[1])
    w:close(); b:close()
  end)

  it('refuses what is not a descriptor it can wait on', function()
    local ok, err, code = socket.wrap(123456, 'fd')
    assert.is_nil(ok)
    assert.is_string(err)
    assert.truthy(code == 'EBADF' or code == 'ENOSYS', code)
  end)

  it('a pipe, an eventfd, inotify and a pty (Linux)', function()
    H.skip_unless(linux, 'Linux descriptors')
    local C = ffi.C
    local fds = ffi.new'int[2]'
    assert(C.pipe(fds) == 0)
    local ev = C.eventfd(0, 0x800) -- EFD_NONBLOCK
    local ino = C.inotify_init1(0x800) -- IN_NONBLOCK
    local dir = H.tmppath'.d'
    assert(os.execute('mkdir ' .. dir) == 0)
    assert(C.inotify_add_watch(ino, dir, 0x100) >= 0) -- IN_CREATE
    local pt = C.posix_openpt(2 + 0x100) -- O_RDWR | O_NOCTTY
    assert(pt >= 0 and C.grantpt(pt) == 0 and C.unlockpt(pt) == 0)
    local slave = assert(io.open(ffi.string(C.ptsname(pt)), 'w'))
    local items = {
      {name = 'pipe', fd = fds[0], make = function() C.write(fds[1], 'x', 1) end},
      {name = 'eventfd', fd = ev, make = function() C.write(ev, ffi.new('uint64_t[1]', 1), 8) end},
      {name = 'inotify', fd = ino, make = function() io.open(dir .. '/f', 'w'):close() end},
      {name = 'pty', fd = pt, make = function() slave:write('line\n'); slave:flush() end},
    }
    for _, it in ipairs(items) do
      local w = assert(socket.wrap(it.fd, 'fd'))
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {w:wait('r', 0.01)}, it.name)
      local done
      socket.newthread(function() done = {w:wait('r', 5)} end)
      assert.is_nil(done, it.name)
      it.make()
      H.wait_until(function() return done end, nil, it.name)
      assert.same({true}, done, it.name)
      w:close()
    end
    slave:close()
    os.execute('rm -rf ' .. dir)
    require'socket2.os'.closesocket(fds[1])
  end)
end)
