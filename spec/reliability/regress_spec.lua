-- spec/reliability/regress_spec.lua: one test per bug that the reliability specs
-- (faults, hostile input, fuzzing) found, named after its fix.
local ffi = require'ffi'
local socket = require'socket2'
local H = require'helpers'

local raises = H.raises

describe('regressions', function()
  after_each(H.no_leaks)

  it('poll(NaN) and start(NaN) raise an error (poll(NaN) used to wait forever)', function()
    raises("bad argument #1 to 'poll'", socket.poll, 0 / 0)
    raises("bad argument #1 to 'start'", socket.start, 0 / 0)
    raises("bad argument #1 to 'poll'", socket.poll, 'x')
    raises("bad argument #1 to 'start'", socket.start, {})
    -- nil and false still mean no timeout; numbers still work
    assert.same({false, 'timeout'}, {socket.poll(0)})
    assert.is_true(socket.start(0.01))
    assert.is_true(socket.start(false))
  end)

  it('newthread of a non-function names newthread (it named coroutine.create)', function()
    local before = socket.stats().threads
    for _, v in ipairs{1, 'f', {}, true, ffi.cast('void*', 0)} do
      raises("bad argument #1 to 'newthread' %(function expected", socket.newthread, v)
    end
    assert.equal(before, socket.stats().threads) -- nothing counted as a thread
  end)

  -- the handle getter of the backend that runs (epoll_fd on epoll, ...); the
  -- others raise an error that names them
  local GETTERS = {epoll = 'epoll_fd', kqueue = 'kqueue_fd', io_uring = 'io_uring_fd', iocp = 'iocp'}
  it('epoll_fd(h) errors name epoll_fd, and a struct or NaN is no handle (the getter of each backend)', function()
    local name = assert(GETTERS[socket.backend], socket.backend)
    local get = socket[name]
    assert.is_number(get()) -- opens the loop if no test before did
    raises(name .. ': the loop is already open', get, 3)
    raises("bad argument #1 to '" .. name .. "' %(handle expected", get, socket.sockaddr('127.0.0.1', 1))
    raises("bad argument #1 to '" .. name .. "' %(handle expected", get, 0 / 0)
    raises("bad argument #1 to '" .. name .. "' %(handle expected", get, 'x')
    for backend, other in pairs(GETTERS) do
      if backend ~= socket.backend then
        raises(other .. ': not available with the ' .. socket.backend .. ' backend', socket[other])
        raises(other .. ': not available with the ' .. socket.backend .. ' backend', socket[other], 3)
      end
    end
  end)

  it('a NULL cdata as family, type or protocol is an unknown name (it reached socket() as nil)', function()
    local NULL = ffi.cast('void*', 0)
    raises("bad argument #2 to 'tcp' %(unknown protocol", socket.tcp, 'inet', NULL)
    raises("bad argument #2 to 'udp' %(unknown protocol", socket.udp, 'inet', NULL)
    raises("bad argument #2 to 'raw' %(unknown protocol", socket.raw, 'inet', NULL)
    raises("bad argument #3 to 'addr' %(unknown socket type", socket.addr, '127.0.0.1', 1, NULL)
    raises("bad argument #4 to 'addr' %(unknown address family", socket.addr, '127.0.0.1', 1, 'tcp', NULL)
    raises("bad argument #5 to 'getaddrinfo' %(unknown protocol", socket.getaddrinfo, '127.0.0.1', 1, 'inet', 'tcp', NULL)
  end)

  it('htons/ntohs/htonl/ntohl of a non-number name themselves (the error named bit.bswap)', function()
    for _, name in ipairs{'htons', 'ntohs', 'htonl', 'ntohl'} do
      raises("bad argument #1 to '" .. name .. "' %(number expected", socket[name], '80')
      raises("bad argument #1 to '" .. name .. "'", socket[name], nil)
    end
    assert.equal(0x5000, socket.htons(80))
    assert.equal(0x01000000, socket.htonl(1))
  end)

  it('a NULL cdata deadline or timeout is refused (it went into the timer heap and broke every later poll)', function()
    local NULL = ffi.cast('void*', 0)
    local c, s = H.pair()
    local buf = ffi.new'uint8_t[4]'
    local errs = {}
    socket.newthread(function()
      for _, f in ipairs{
        function() return s:recv(buf, 4, NULL) end,
        function() return s:recvall(buf, 4, NULL) end,
        function() return s:send('x', 1, NULL) end,
        function() return s:sendall('x', 1, NULL) end,
        function() return s:wait('r', NULL) end,
        function() return s:settimeout(NULL) end,
        function() return s:sendfile('/etc/hostname', 0, NULL) end,
        function() return socket.addr('127.0.0.1', 1, 'tcp', 'inet', nil, nil, NULL) end,
        function() return socket.addr('127.0.0.1', 1, 'tcp', 'inet', nil, nil, 0 / 0) end,
      } do
        local ok, err = pcall(f)
        errs[#errs + 1] = not ok and err or 'no error'
      end
    end)
    for _, e in ipairs(errs) do assert.matches('bad argument', e) end
    local u = assert(socket.udp())
    local ok, err = pcall(u.recvfrom, u, buf, 4, NULL)
    assert.is_false(ok); assert.matches("bad argument #3 to 'recvfrom' %(sockaddr expected", err)
    ok, err = pcall(s.listen, s, '127.0.0.1', 0, NULL)
    assert.is_false(ok); assert.matches("'listen'", err)
    u:close()
    -- the loop is fine: timers still fire
    local woke = false
    socket.newthread(function() socket.sleep(0.01); woke = true end)
    socket.start(5)
    assert.is_true(woke)
    c:close(); s:close()
  end)

  it('stream(s, size) refuses a size that is NaN, huge or NULL (ffi.new raised its own error)', function()
    local s = assert(socket.tcp())
    for _, v in ipairs{0 / 0, math.huge, 2 ^ 31, 2 ^ 63, ffi.cast('void*', 0), 0, -1} do
      local ok, err = pcall(socket.stream, s, v)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'stream'", err)
    end
    assert.is_table(socket.stream(s, 1.5))
    s:close()
  end)

  it('stream reads check maxlen, max, n and expires and name themselves', function()
    local c, s = H.pair()
    local st = socket.stream(s)
    local NULL = ffi.cast('void*', 0)
    local cases = {
      {'readline', {false, 'x'}}, {'readline', {false, 0 / 0}}, {'readline', {false, -1}}, {'readline', {false, 10, 'x'}},
      {'readuntil', {'\n', 'x'}}, {'readuntil', {'\n', 0 / 0}}, {'readuntil', {'\n', 10, NULL}},
      {'read', {2 ^ 31}}, {'read', {math.huge}}, {'read', {4, 'x'}},
      {'readany', {-1}}, {'readany', {'x'}}, {'readany', {0 / 0}}, {'readany', {8, {}}},
      {'flush', {'x'}},
    }
    for _, k in ipairs(cases) do
      local ok, err = pcall(st[k[1]], st, unpack(k[2], 1, 3))
      assert.is_false(ok, k[1])
      assert.matches("bad argument #%d to '" .. k[1] .. "'", err)
    end
    -- nothing was consumed or broken
    assert(c:send('line\n'))
    assert.equal('line', st:readline(false, 100, socket.clock() + 5))
    st:close(); c:close()
  end)

  it('socket.connect argument errors name connect (they named addr; a table host was read as addr{...})', function()
    raises("bad argument #1 to 'connect' %(host must be a string", socket.connect, 1, 80)
    raises("bad argument #1 to 'connect' %(host must be a string", socket.connect, {}, 80)
    raises("bad argument #1 to 'connect' %(host contains a NUL", socket.connect, '127.0.0.1\0x', 80)
    raises("bad argument #2 to 'connect' %(port", socket.connect, '127.0.0.1', -1)
    raises("bad argument #2 to 'connect' %(port", socket.connect, '127.0.0.1', 'x')
  end)

  it('socket.listen with a bad argument raises without leaking the socket it made (it leaked one per call)', function()
    local before = socket.stats().slots
    for _, a in ipairs{{'a\0b', 0}, {{}, 0}, {8080}, {'127.0.0.1', -1}, {'127.0.0.1', 0, -1}, {'127.0.0.1', 0, 0 / 0}} do
      local ok, err = pcall(socket.listen, unpack(a, 1, 3))
      assert.is_false(ok)
      assert.matches("bad argument #%d to 'listen'", err)
    end
    assert.equal(before, socket.stats().slots)
    local l = assert(socket.listen('127.0.0.1', 0, 8))
    l:close()
  end)

  it('stream compaction moves overlapping bytes with memmove (it used ffi.copy: memcpy on overlapping ranges)', function()
    -- 16 KB buffer: 13000 bytes buffered, 800 consumed, then a read that
    -- needs 4096 free bytes moves the 12200 left to the front, over themselves
    local c, s = H.pair()
    local st = socket.stream(s, 16384)
    local first = ('a'):rep(799) .. '\n'
    local rest = {}
    for i = 1, 12200 do rest[i] = string.char(33 + i % 90) end
    rest = table.concat(rest)
    assert(c:sendall(first .. rest))
    assert.equal(('a'):rep(799), st:readline(false, 1000, socket.clock() + 5))
    assert.equal(#rest, st:nbuffered()) -- (loopback: one recv took it all)
    assert(c:send('\n'))
    local line = st:readline(false, 20000, socket.clock() + 5)
    assert.equal(#rest, #line)
    assert.is_true(line == rest, 'the bytes moved in the buffer came out changed')
    st:close(); c:close()
  end)

  it('a raw struct sockaddr* (ai.addr) is read for its family size only (128 bytes were read from a 16-byte block)', function()
    local l, port = H.listener()
    local ai = assert(socket.addr('127.0.0.1', port, 'tcp', 'inet'))
    local c = assert(socket.tcp())
    assert.is_true(c:connect(ai.addr)) -- under ASan: heap-buffer-overflow before the fix
    local host, serv = socket.getnameinfo(ai.addr, 3)
    assert.equal('127.0.0.1', host); assert.equal(tostring(port), serv)
    local u = assert(socket.udp())
    local sa = socket.sockaddr('127.0.0.1', 1)
    ffi.cast('struct sockaddr*', sa).sa_family = 99 -- no such family
    local n, _, code = u:send('x', 1, ffi.cast('struct sockaddr*', sa))
    assert.is_nil(n); assert.equal('EAFNOSUPPORT', code)
    u:close(); c:close(); l:close()
  end)

  it('an sa whose len is beyond its storage is never read past it (ip()/tostring()/== read len bytes)', function()
    for _, len in ipairs{111, 200, 63003, 0xffffffff} do
      local sa = socket.sockaddr('/tmp/x')
      sa.len = len
      assert.is_true(#sa:ip() <= 108)
      assert.is_string(sa:tostring())
      local sb = sa:copy()
      assert.is_true(sa == sb)
    end
  end)

  it('lua_close of a state that used socket2 closes its loop (each closed state leaked an epoll fd and an eventfd)', function()
    -- the host is built with the machine's cc against Debian's libluajit and
    -- counts its descriptors in /proc/self/fd; on Windows the next test
    -- checks the same in this process
    H.skip_unless(not H.windows, 'builds a C host with cc and counts descriptors in /proc/self/fd: POSIX only '
      .. '(Windows: the next test)')
    -- a host that embeds LuaJIT and makes a fresh state per job
    local src = [[
#include <stdio.h>
#include <dirent.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
static int nfds(void) { int n = 0; DIR *d = opendir("/proc/self/fd"); while (readdir(d)) n++; closedir(d); return n; }
int main(void) {
  int i;
  for (i = 0; i < 4; i++) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, "local s = require'socket2'; local t = assert(s.tcp()); t:close(); s.sleep(0)")) {
      printf("error %s\n", lua_tostring(L, -1)); return 1;
    }
    lua_close(L);
    printf("%d ", nfds());
  }
  return 0;
}
]]
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute('mkdir -p ' .. dir) == 0)
    local f = assert(io.open(dir .. '/host.c', 'w')); f:write(src); f:close()
    local p = assert(io.popen(('cc -o %s/host %s/host.c -I/usr/include/luajit-2.1 -lluajit-5.1 2>&1 && '
      .. "LUA_PATH='lua/?.lua;;' LUA_CPATH='./?.so;;' %s/host 2>&1"):format(dir, dir, dir)))
    local out = p:read'*a'
    p:close()
    os.execute('rm -rf ' .. dir)
    local a, b, c, d = out:match'^(%d+) (%d+) (%d+) (%d+) $'
    assert(a, out)
    assert.is_true(a == b and b == c and c == d, 'descriptors after each closed state: ' .. out)
  end)

  it('lua_close of a state that used socket2 closes its loop (Windows: its completion port handle is closed)', function()
    -- Wine's GetProcessHandleCount says 0, so instead of counting handles:
    -- fresh states made in this process through lua51.dll hand out their
    -- port (socket.iocp()), which must be a valid handle before lua_close
    -- and an invalid one after
    H.skip_unless(H.windows, 'the Windows form of the test before (POSIX runs that one)')
    pcall(ffi.cdef, [[
typedef struct lua_State lua_State;
lua_State *luaL_newstate(void);
void luaL_openlibs(lua_State *L);
int luaL_loadstring(lua_State *L, const char *s);
int lua_pcall(lua_State *L, int nargs, int nresults, int errfunc);
const char *lua_tolstring(lua_State *L, int idx, size_t *len);
double lua_tonumber(lua_State *L, int idx);
void lua_close(lua_State *L);
int GetHandleInformation(void *h, uint32_t *flags);
uint32_t GetLastError(void);
]])
    local lua, k32 = ffi.load'lua51', ffi.load'kernel32'
    local flags = ffi.new'uint32_t[1]'
    local ERROR_INVALID_HANDLE = 6
    for _ = 1, 4 do
      local L = lua.luaL_newstate()
      lua.luaL_openlibs(L)
      local code = "local s = require'socket2'; local t = assert(s.tcp()); t:close(); s.sleep(0); return s.iocp()"
      if lua.luaL_loadstring(L, code) ~= 0 or lua.lua_pcall(L, 0, 1, 0) ~= 0 then
        local err = ffi.string(lua.lua_tolstring(L, -1, nil))
        lua.lua_close(L)
        error(err)
      end
      local port = ffi.cast('void*', lua.lua_tonumber(L, -1))
      assert.is_true(k32.GetHandleInformation(port, flags) ~= 0, 'the port is a handle while its state lives')
      lua.lua_close(L)
      assert.equal(0, k32.GetHandleInformation(port, flags), 'the port is still open after lua_close')
      assert.equal(ERROR_INVALID_HANDLE, k32.GetLastError())
    end
  end)

  it('an IPv6 scope name is looked up after a full GC (Windows: the DLL of if_nametoindex was unloaded: crash)', function()
    collectgarbage(); collectgarbage()
    assert.is_nil(socket.sockaddr('::1%socket2-no-such-if', 1))
    assert.is_nil(socket.sockaddr('::%', 5))
    assert.equal(7, socket.sockaddr('fe80::1%7', 1):addr().sin6_scope_id)
  end)

  it('a NULL buffer with a length is a Lua error (it went to the kernel, which said EFAULT)', function()
    local c, s = H.pair()
    local u = assert(socket.udp())
    local NULL = ffi.cast('uint8_t*', 0)
    for _, f in ipairs{
      function() return s:recv(NULL, 4) end, function() return s:send(NULL, 4) end,
      function() return s:recvall(NULL, 4) end, function() return s:sendall(NULL, 4) end,
      function() return u:recvfrom(NULL, 4) end, function() return u:send(NULL, 4, '127.0.0.1', 9) end,
    } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches('NULL buffer', err)
    end
    assert.equal(0, s:send(NULL, 0)) -- nothing to read from it: fine
    u:close(); c:close(); s:close()
  end)

  it('a scalar cdata is no buffer (an int64 reached recv as the address made of its value)', function()
    local c, s = H.pair()
    for _, v in ipairs{ffi.new('int64_t', -1), ffi.new('uint64_t', 0), ffi.new('double', 1), ffi.new('bool', true)} do
      for _, f in ipairs{s.recv, s.send, s.recvall, s.sendall} do
        local ok, err = pcall(f, s, v, 1)
        assert.is_false(ok)
        assert.matches('buffer expected', err)
      end
    end
    -- arrays, pointers and structs still are
    assert.equal(1, s:send(ffi.new('uint8_t[1]', 65), 1))
    assert.equal(1, c:recv(ffi.cast('uint8_t*', ffi.new('uint8_t[4]')), 1))
    assert.equal(4, s:send(ffi.new('struct { uint8_t b[4]; }'), 4))
    c:close(); s:close()
  end)

  it('sendfile refuses a descriptor that is not an int (it went to C as whatever the conversion made of it)', function()
    local c, s = H.pair()
    for _, v in ipairs{2 ^ 32, -1, 1.5, 0 / 0, math.huge} do
      local ok, err = pcall(s.sendfile, s, v)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'sendfile'", err)
    end
    c:close(); s:close()
  end)

  it('the scheduler refuses a deadline that is not a number instead of storing it', function()
    local sched = require'socket2.sched'
    local ok, err = pcall(sched.park, {}, ffi.cast('void*', 0))
    assert.is_false(ok); assert.matches('deadline', err)
    ok, err = pcall(sched.park, {}, 0 / 0)
    assert.is_false(ok); assert.matches('deadline', err)
    assert.equal(0, socket.stats().timers)
  end)
end)
