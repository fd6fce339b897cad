-- spec/unit/shim_spec.lua: the shim's ABI as Lua sees it. The cdef in
-- lua/socket2/shim.lua must be the text of shim/socket2.h (between its
-- S2_CDEF markers, S2_API removed), the structs must have the sizes and
-- offsets the C compiler gives them, and the error table and the OS files
-- must agree with each other.
local ffi = require'ffi'
local bit = require'bit'
local socket = require'socket2'
local H = require'helpers'

-- The source tree root, from this file's path (spec/unit/shim_spec.lua).
local ROOT = require'helpers'.ROOT

local function readfile(path)
  local f = assert(io.open(ROOT .. '/' .. path, 'rb'))
  local s = f:read'*a'
  f:close()
  return s
end

local function header_cdef()
  local h = readfile'shim/socket2.h'
  local text = h:match'/%* S2_CDEF_BEGIN %*/\n(.-)/%* S2_CDEF_END %*/'
  assert(text, 'S2_CDEF_BEGIN/END markers not found in shim/socket2.h')
  return (text:gsub('S2_API ', ''))
end

local function lua_cdef()
  local src = readfile'lua/socket2/shim.lua'
  local text = src:match'ffi%.cdef%[%[\n(.-)%]%]'
  assert(text, 'no ffi.cdef[[ ... ]] block in lua/socket2/shim.lua')
  return text
end

-- the names of the error enum after S2_EOK, up to S2_E_COUNT, in order
local function error_names()
  local block = header_cdef():match'enum {%s*S2_EOK = 0,(.-)};'
  assert(block, 'error enum not found')
  local names = {}
  for name in block:gsub('/%*.-%*/', ''):gmatch'S2_([%w_]+)' do
    if name ~= 'E_COUNT' then names[#names + 1] = name end
  end
  return names
end

local function list_dir(dir)
  local names = {}
  local ok, lfs = pcall(require, 'lfs')
  if ok then
    for f in lfs.dir(dir) do names[#names + 1] = f end
  else
    local p = assert(io.popen('ls -1 "' .. dir .. '"'))
    for f in p:lines() do names[#names + 1] = f end
    p:close()
  end
  table.sort(names)
  return names
end

-- os.execute's success, for Lua 5.1 (0) and 5.2-compat (true) semantics
local function run_ok(r) return r == 0 or r == true end

local shell_quote = H.shell_quote

local windows = ffi.os == 'Windows'

-- OS error numbers (errno; WSA codes on Windows) -> the portable names
local OSERR = windows and {
  [10013] = 'EACCES', [10004] = 'EINTR', [10035] = 'EAGAIN', [10022] = 'EINVAL',
  [10024] = 'EMFILE', [10063] = 'ENAMETOOLONG', [10045] = 'EOPNOTSUPP',
  [10047] = 'EAFNOSUPPORT', [10048] = 'EADDRINUSE', [10049] = 'EADDRNOTAVAIL',
  [10054] = 'ECONNRESET', [10060] = 'ETIMEDOUT', [10061] = 'ECONNREFUSED',
  [10065] = 'EHOSTUNREACH', [10036] = 'EINPROGRESS', [995] = 'ECANCELED'}
or {[1] = 'EPERM', [4] = 'EINTR', [11] = 'EAGAIN', [13] = 'EACCES',
  [22] = 'EINVAL', [24] = 'EMFILE', [32] = 'EPIPE', [36] = 'ENAMETOOLONG',
  [95] = 'EOPNOTSUPP', [97] = 'EAFNOSUPPORT', [98] = 'EADDRINUSE',
  [99] = 'EADDRNOTAVAIL', [104] = 'ECONNRESET', [110] = 'ETIMEDOUT',
  [111] = 'ECONNREFUSED', [113] = 'EHOSTUNREACH', [115] = 'EINPROGRESS',
  [125] = 'ECANCELED'}
local ERRNO = {}
for n, name in pairs(OSERR) do ERRNO[name] = n end

describe('shim', function()
  after_each(H.no_leaks)

  local shim = require'socket2.shim'
  local lib = shim.lib

  describe('ABI text', function()
    it('the Lua cdef is exactly the header text between the S2_CDEF markers', function()
      local h, l = header_cdef(), lua_cdef()
      assert.truthy(h:find('typedef struct s2_event', 1, true))
      assert.truthy(h:find('s2_lookup_cancel', 1, true))
      assert.is_nil(h:find('S2_API', 1, true))
      if h ~= l then
        -- name the first line that differs, for a readable failure
        local hl, ll = {}, {}
        for line in (h .. '\n'):gmatch'(.-)\n' do hl[#hl + 1] = line end
        for line in (l .. '\n'):gmatch'(.-)\n' do ll[#ll + 1] = line end
        for i = 1, math.max(#hl, #ll) do
          if hl[i] ~= ll[i] then
            error(('cdef differs from shim/socket2.h at line %d of the block:\n  header: %s\n  lua:    %s')
              :format(i, tostring(hl[i]), tostring(ll[i])))
          end
        end
      end
      assert.equal(h, l)
    end)

    it('the header declares every function with S2_API and nothing else uses it inside the block', function()
      local raw = readfile'shim/socket2.h':match'/%* S2_CDEF_BEGIN %*/\n(.-)/%* S2_CDEF_END %*/'
      local n = 0
      for line in raw:gmatch'[^\n]+' do
        if line:find'^S2_API ' then n = n + 1 end
      end
      -- s2_abi_version .. s2_lookup_cancel
      assert.is_true(n >= 14)
      for name in ('s2_abi_version s2_backend s2_caps s2_errname s2_strerror s2_from_oserror '
          .. 's2_open s2_handle s2_close s2_submit s2_wait s2_wakeup s2_lookup_start '
          .. 's2_lookup_take s2_lookup_cancel'):gmatch'%S+' do
        assert.truthy(raw:find('S2_API [^\n]-%f[%w_]' .. name .. '%('), name .. ' is not declared S2_API')
        assert.is_not_nil(lib[name], name .. ' is not exported by the shim')
      end
    end)
  end)

  describe('struct layout', function()
    it('s2_event is 16 bytes with its fields at fixed offsets', function()
      assert.equal(16, ffi.sizeof's2_event')
      assert.equal(0, ffi.offsetof('s2_event', 'id'))
      assert.equal(4, ffi.offsetof('s2_event', 'gen'))
      assert.equal(8, ffi.offsetof('s2_event', 'result'))
      assert.equal(12, ffi.offsetof('s2_event', 'flags'))
    end)

    it('s2_op is 64 bytes with its fields at fixed offsets', function()
      assert.equal(64, ffi.sizeof's2_op')
      local want = {op = 0, flags = 4, id = 8, gen = 12, fd = 16, buf = 24, addr = 32,
                    addrlenp = 40, len = 48, addrlen = 52, result = 56, aux = 60}
      for field, off in pairs(want) do
        assert.equal(off, ffi.offsetof('s2_op', field), 's2_op.' .. field)
      end
    end)

    it('s2_event and s2_op are laid out as the C compiler lays them out', function()
      local cc = os.getenv'CC' or 'cc'
      if not run_ok(os.execute(cc .. ' --version >/dev/null 2>&1')) then
        pending(windows and 'no C compiler inside Wine; build/win/test_iocp.exe checks the layout mingw gives'
          or 'no C compiler (' .. cc .. ') to compare with')
        return
      end
      local base = os.tmpname()
      local csrc, exe = base .. '.c', base .. '.exe'
      local f = assert(io.open(csrc, 'w'))
      f:write[[
#include <stdio.h>
#include <stddef.h>
#include "socket2.h"
#define O(t, f) printf(#t "." #f " %u\n", (unsigned)offsetof(t, f))
int main(void) {
  printf("s2_event %u\n", (unsigned)sizeof(s2_event));
  printf("s2_op %u\n", (unsigned)sizeof(s2_op));
  O(s2_event, id); O(s2_event, gen); O(s2_event, result); O(s2_event, flags);
  O(s2_op, op); O(s2_op, flags); O(s2_op, id); O(s2_op, gen); O(s2_op, fd);
  O(s2_op, buf); O(s2_op, addr); O(s2_op, addrlenp); O(s2_op, len);
  O(s2_op, addrlen); O(s2_op, result); O(s2_op, aux);
  printf("S2_E_COUNT %d\n", (int)S2_E_COUNT);
  printf("S2_MAX_ID %d\n", (int)S2_MAX_ID);
  printf("S2_OP_CANCEL %d\n", (int)S2_OP_CANCEL);
  printf("S2_LOOKUP %d\n", (int)S2_LOOKUP);
  return 0;
}
]]
      f:close()
      local ok = run_ok(os.execute(('%s -std=c99 -I%s -o %s %s 2>&1'):format(cc,
        shell_quote(ROOT .. '/shim'), shell_quote(exe), shell_quote(csrc))))
      os.remove(csrc)
      os.remove(base)
      assert.is_true(ok, 'compiling the layout probe failed')
      local p = assert(io.popen(shell_quote(exe)))
      local out = p:read'*a'
      p:close()
      os.remove(exe)
      local n = 0
      for name, v in out:gmatch'(%S+) (%-?%d+)\n' do
        n = n + 1
        v = tonumber(v)
        local t, field = name:match'^(s2_%w+)%.(%w+)$'
        if t then
          assert.equal(v, ffi.offsetof(t, field), name)
        elseif name:find'^S2_' then
          assert.equal(v, lib[name], name)
        else
          assert.equal(v, ffi.sizeof(name), 'sizeof ' .. name)
        end
      end
      assert.equal(22, n)
    end)
  end)

  describe('library', function()
    it('has ABI version 2', function()
      assert.equal(2, lib.s2_abi_version())
    end)

    -- SOCKET2_BACKEND picks a backend built beside the default (epoll;
    -- iocp on Windows)
    local default = windows and 'iocp' or 'epoll'
    local wanted = os.getenv'SOCKET2_BACKEND'
    if not wanted or wanted == '' then wanted = default end
    if shim.fallback then wanted = default end -- refused here: see backend_spec.lua

    it('is the backend this run asked for (SOCKET2_BACKEND, else the default), and says so', function()
      assert.equal(wanted, ffi.string(lib.s2_backend()))
      assert.equal(wanted, shim.backend)
      assert.equal(wanted, socket.backend)
    end)

    it('reports the capability of its model: readiness or completion', function()
      local caps = lib.s2_caps()
      assert.equal(caps, shim.caps)
      local completion = ({io_uring = true, iocp = true})[shim.backend] or false
      assert.equal(not completion, bit.band(caps, lib.S2_CAP_READINESS) ~= 0)
      assert.equal(completion, bit.band(caps, lib.S2_CAP_COMPLETION) ~= 0)
    end)

    it('was found on package.cpath (or SOCKET2_SHIM)', function()
      assert.is_string(shim.path)
      local env = os.getenv'SOCKET2_SHIM'
      if env and env ~= '' then
        assert.equal(env, shim.path)
      else
        assert.equal(package.searchpath('socket2.shim_' .. wanted, package.cpath)
          or package.searchpath('socket2.shim', package.cpath), shim.path)
      end
    end)
  end)

  describe('error table', function()
    it('names every S2_E* code after its enum name, for -code and +code', function()
      local names = error_names()
      assert.is_true(#names > 50)
      for i, name in ipairs(names) do
        local code = lib['S2_' .. name]
        assert.equal(i, code, 'S2_' .. name .. ' is out of order')
        assert.equal(name, ffi.string(lib.s2_errname(-code)))
        assert.equal(name, ffi.string(lib.s2_errname(code)))
        local msg = ffi.string(lib.s2_strerror(-code))
        assert.is_true(#msg > 0, name .. ' has no message')
        assert.equal(msg, ffi.string(lib.s2_strerror(code)))
      end
      assert.equal(#names + 1, lib.S2_E_COUNT) -- + S2_EOK
    end)

    it('has the messages the Lua layer relies on', function()
      assert.equal('ECONNREFUSED', ffi.string(lib.s2_errname(-lib.S2_ECONNREFUSED)))
      assert.equal('connection refused', ffi.string(lib.s2_strerror(-lib.S2_ECONNREFUSED)))
      assert.equal('timeout', ffi.string(lib.s2_strerror(-lib.S2_ETIMEDOUT)))
      assert.equal('address already in use', ffi.string(lib.s2_strerror(-lib.S2_EADDRINUSE)))
      assert.equal('OK', ffi.string(lib.s2_errname(0)))
    end)

    it('maps out-of-range codes to EUNKNOWN', function()
      for _, code in ipairs{lib.S2_E_COUNT, -lib.S2_E_COUNT, 9999, -9999, 0x7fffffff} do
        assert.equal('EUNKNOWN', ffi.string(lib.s2_errname(code)))
        assert.equal('unknown error', ffi.string(lib.s2_strerror(code)))
      end
    end)

    it('maps the OS error numbers (errno; WSA codes on Windows) to portable codes', function()
      for errno, name in pairs(OSERR) do
        assert.equal(-lib['S2_' .. name], lib.s2_from_oserror(errno), 'errno ' .. errno)
      end
      assert.equal(-lib.S2_EUNKNOWN, lib.s2_from_oserror(9999))
      assert.equal(-lib.S2_EUNKNOWN, lib.s2_from_oserror(0)) -- 0 is no error to report
    end)
  end)

  describe('socket2.errors', function()
    local errors = require'socket2.errors'

    it('os(errno) returns nil, message, portable code', function()
      local a, msg, code = errors.os(ERRNO.ECONNREFUSED)
      assert.is_nil(a)
      assert.equal('connection refused', msg)
      assert.equal('ECONNREFUSED', code)
      assert.same({nil, 'address already in use', 'EADDRINUSE'}, {errors.os(ERRNO.EADDRINUSE)})
      assert.same({nil, 'unknown error', 'EUNKNOWN'}, {errors.os(9999)})
    end)

    it('s2(code) takes negative and positive shim codes', function()
      assert.same({nil, 'connection refused', 'ECONNREFUSED'}, {errors.s2(-lib.S2_ECONNREFUSED)})
      assert.same({nil, 'connection refused', 'ECONNREFUSED'}, {errors.s2(lib.S2_ECONNREFUSED)})
      assert.same({nil, 'host or service not known', 'EAI_NONAME'}, {errors.s2(-lib.S2_EAI_NONAME)})
    end)

    it('name(errno) is the portable name', function()
      assert.equal('ECONNRESET', errors.name(ERRNO.ECONNRESET))
      assert.equal('EAGAIN', errors.name(ERRNO.EAGAIN))
    end)

    it("timeout() and closed() use the exact messages 'timeout' and 'closed'", function()
      assert.same({nil, 'timeout', 'ETIMEDOUT'}, {errors.timeout()})
      local a, msg = errors.closed()
      assert.is_nil(a)
      assert.equal('closed', msg)
    end)

    it('arg() and misuse() raise errors naming the function', function()
      local ok, err = pcall(function() errors.arg('frob', 2, 'number expected') end)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'frob' %(number expected%)", err)
      ok, err = pcall(function() errors.misuse('frob', 'socket is closed') end)
      assert.is_false(ok)
      assert.matches('frob: socket is closed', err, 1, true)
    end)
  end)

  describe('OS files', function()
    local here = require'socket2.os' -- linux.lua, windows.lua, ...
    local here_file = here.name .. '.lua'

    -- key -> kind; a C function and a Lua function are both 'callable',
    -- and C is the library namespace (a stub table where the OS lacks it)
    local function kind(k, v)
      local ty = type(v)
      if k == 'C' then return 'namespace' end
      return (ty == 'cdata' or ty == 'function') and 'callable' or ty
    end
    local function keys_of(t)
      local r = {}
      for k, v in pairs(t) do r[k] = kind(k, v) end
      return r
    end

    -- Loads an OS file in a fresh LuaJIT (its cdefs must not collide with
    -- the ones already declared here): {key = type}, or nil, why. A library
    -- that this OS lacks (ws2_32 on Linux) loads as a stub whose functions
    -- return 0, so that the other OS's file can be compared too.
    local function quote(s) return windows and '"' .. s .. '"' or shell_quote(s) end
    local function keys_in_fresh_state(path)
      local prog = ([[
        local ffi = require'ffi'
        local load = ffi.load
        local stub = setmetatable({}, {__index = function() return function() return 0 end end})
        ffi.load = function(name) local ok, lib = pcall(load, name); return ok and lib or stub end
        local ok, t = pcall(dofile, %q)
        if not ok then io.write('LOADERR ', tostring(t)) os.exit(0) end
        if type(t) ~= 'table' then io.write('LOADERR returned ', type(t)) os.exit(0) end
        local ks = {}
        local function kind(k, v)
          local ty = type(v)
          if k == 'C' then return 'namespace' end
          return (ty == 'cdata' or ty == 'function') and 'callable' or ty
        end
        for k, v in pairs(t) do ks[#ks + 1] = tostring(k) .. '=' .. kind(k, v) end
        table.sort(ks)
        io.write(table.concat(ks, '\n'))
      ]]):format(path)
      local exe = arg and arg[-1] or 'luajit'
      if not exe:find'luajit' then exe = 'luajit' end
      local script = windows and os.getenv'TEMP' .. '\\socket2-os-keys.lua' or os.tmpname()
      local f = assert(io.open(script, 'w'))
      f:write(prog)
      f:close()
      local cmd = quote(exe) .. ' ' .. quote(script) .. ' 2>&1'
      if windows then cmd = '"' .. cmd .. '"' end -- cmd.exe /c strips one pair of quotes
      local p = assert(io.popen(cmd))
      local out = p:read'*a'
      p:close()
      os.remove(script)
      if out:find'^LOADERR' then return nil, out end
      local r = {}
      for k, ty in out:gmatch'([^\n=]+)=([^\n]+)' do r[k] = ty end
      return r
    end

    it('socket2.os is the file of this OS', function()
      assert.equal(windows and 'windows' or 'linux', here.name)
    end)

    it(here_file .. ' exports what the rest of socket2 uses', function()
      local linux = here
      for _, k in ipairs{'C', 'name', 'AF', 'SOCK', 'IPPROTO', 'AI', 'MSG', 'SHUT', 'SOCKOPT',
          'SUN_PATH_MAX', 'ABSTRACT_UNIX', 'EAGAIN', 'EWOULDBLOCK', 'EINTR', 'EINPROGRESS',
          'INVALID_FD', 'MSG_NOSIGNAL', 'NI', 'SOMAXCONN',
          'errno', 'socket', 'accept', 'closesocket', 'set_nonblocking', 'ready_now',
          'nread', 'socket_info', 'sa_family', 'sa_set_family', 'clock'} do
        assert.is_not_nil(linux[k], 'socket2.os.' .. here.name .. '.' .. k)
      end
      for _, k in ipairs{'unspec', 'unix', 'inet', 'inet6'} do assert.is_number(linux.AF[k]) end
      for _, k in ipairs{'tcp', 'udp', 'raw'} do assert.is_number(linux.SOCK[k]) end
      for _, k in ipairs{'r', 'w', 'rw'} do assert.is_number(linux.SHUT[k]) end
    end)

    it('every os/*.lua that loads here exports the same keys as ' .. here_file, function()
      local dir = ROOT .. '/lua/socket2/os'
      local want = keys_of(here)
      local checked, skipped = 0, {}
      for _, f in ipairs(list_dir(dir)) do
        if f:find'%.lua$' and f ~= here_file and f ~= 'posix.lua' then -- (posix.lua: shared cdef text)
          local got, why = keys_in_fresh_state(dir .. '/' .. f)
          if not got then
            skipped[#skipped + 1] = f .. ' (' .. why:gsub('\n.*', '') .. ')'
          else
            checked = checked + 1
            for k, ty in pairs(want) do
              assert.equal(ty, got[k], f .. ': key ' .. k)
            end
            for k in pairs(got) do
              assert.is_not_nil(want[k], f .. ' exports ' .. k .. ' which ' .. here_file .. ' does not')
            end
          end
        end
      end
      -- this OS's file itself, loaded the same way as the others
      local got = assert(keys_in_fresh_state(dir .. '/' .. here_file))
      assert.same(want, got)
      if #skipped > 0 then
        print(('\nshim_spec: OS files that cannot load on %s, not compared: %s'):format(
          here.name, table.concat(skipped, ', ')))
      end
    end)
  end)
end)
