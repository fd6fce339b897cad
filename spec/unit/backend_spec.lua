-- spec/unit/backend_spec.lua: choosing the backend at run time. SOCKET2_BACKEND=name
-- loads socket2/shim_<name>.so; when the kernel refuses that backend
-- (io_uring disabled: EPERM, or missing: ENOSYS), socket2 falls back to the
-- default shim and says so once on stderr. The refusal is made real with
-- build/no_io_uring (make builds it), which runs a command under a seccomp
-- filter that fails io_uring_setup with the given errno.
local H = require'helpers'

local ROOT = require'helpers'.ROOT

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local shell_quote = H.shell_quote

local function luajit()
  local exe = arg and arg[-1] or 'luajit'
  return exe:find'luajit' and exe or 'luajit'
end

-- Runs a Lua chunk in a fresh luajit with env prefix; its output (stdout and
-- stderr together). SOCKET2_SHIM (make asan sets it) would override the choice.
local function run(env, prefix, chunk)
  local prog = ('package.path = %q .. package.path; package.cpath = %q .. package.cpath; %s'):format(
    ROOT .. '/lua/?.lua;', ROOT .. '/?.so;', chunk)
  local p = assert(io.popen(('env -u SOCKET2_SHIM %s %s %s -e %s 2>&1'):format(env, prefix, shell_quote(luajit()),
    shell_quote(prog))))
  local out = p:read'*a'
  p:close()
  return out
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

describe('backend choice', function()
  after_each(H.no_leaks)

  local helper = ROOT .. '/build/no_io_uring'
  local uring = ROOT .. '/socket2/shim_io_uring.so'

  -- a udp socket sends to itself and reads it back: the loop works
  local echo = [[
    local socket = require'socket2'; require'socket2'
    local ffi = require'ffi'
    local u = assert(socket.udp()); assert(u:bind('127.0.0.1', 0))
    assert(u:send('hi', nil, u:getsockname()))
    local buf = ffi.new'uint8_t[4]'
    local n = assert(u:recv(buf, 4, socket.clock() + 5))
    u:close()
    local fb = require'socket2.shim'.fallback
    io.write('backend=', socket.backend, ' got=', ffi.string(buf, n),
      ' fallback=', fb and fb.wanted .. ':' .. fb.reason or 'none', '\n')
  ]]

  for _, err in ipairs{'EPERM', 'ENOSYS'} do
    it('falls back to epoll, saying so once, when the kernel refuses io_uring with ' .. err, function()
      H.skip_unless(not H.windows, 'starts luajit with env through a POSIX shell; Windows has one backend (iocp)')
      if not exists(uring) then pending('socket2/shim_io_uring.so is not built') return end
      if not exists(helper) then pending('build/no_io_uring is not built (make test builds it)') return end
      local out = run('SOCKET2_BACKEND=io_uring', shell_quote(helper) .. ' ' .. err, echo)
      assert.matches('backend=epoll got=hi fallback=io_uring:' .. err, out, 1, true)
      assert.equal(1, count(out, 'socket2: the io_uring backend cannot be used here %(' .. err .. ':'),
        'the fallback is announced exactly once:\n' .. out)
    end)
  end

  it('uses io_uring when asked and the kernel allows it, silently', function()
    H.skip_unless(not H.windows, 'starts luajit with env through a POSIX shell; Windows has one backend (iocp)')
    if not exists(uring) then pending('socket2/shim_io_uring.so is not built') return end
    local out = run('SOCKET2_BACKEND=io_uring', '', echo)
    if out:find('fallback=io_uring:', 1, true) then
      pending('this kernel refuses io_uring: ' .. out)
      return
    end
    assert.equal('backend=io_uring got=hi fallback=none\n', out)
  end)

  it('SOCKET2_BACKEND naming the default backend loads the default shim', function()
    H.skip_unless(not H.windows, 'starts luajit with env through a POSIX shell; Windows has one backend (iocp)')
    local out = run('SOCKET2_BACKEND=epoll', '', echo)
    assert.equal('backend=epoll got=hi fallback=none\n', out)
  end)

  it('SOCKET2_BACKEND naming a backend that was not built is an error', function()
    H.skip_unless(not H.windows, 'starts luajit with env through a POSIX shell; Windows has one backend (iocp)')
    local out = run('SOCKET2_BACKEND=nosuch', '', echo)
    assert.matches('no socket2/shim_nosuch library', out, 1, true)
  end)
end)
