-- Installing: `make install PREFIX=...` and `luarocks make` put socket2
-- where LuaJIT's default search paths look, so after an install to
-- /usr/local `require'socket2'` works from any directory without any
-- environment variable. The test installs into a temporary prefix and
-- runs LuaJIT from another directory with its default paths moved there
-- (and no SOCKET2_SHIM/SOCKET2_BACKEND override: the installed shim is used).
local H = require'helpers'

local sh = H.sh

local function tmpdir()
  local d = H.tmppath()
  assert(select(2, sh('mkdir -p ' .. d)))
  return d
end

-- Runs `require'socket2'` from / with the default paths, /usr/local -> prefix.
local function try_require(prefix)
  local code = ([[
    local prefix = %q
    package.path = package.path:gsub('/usr/local', prefix)
    package.cpath = package.cpath:gsub('/usr/local', prefix)
    local s = require'socket2'
    local t = assert(s.tcp()); t:close()
    io.write(s.backend, ' ', package.searchpath('socket2', package.path))
  ]]):format(prefix)
  local env = 'env -u LUA_PATH -u LUA_CPATH -u SOCKET2_SHIM -u SOCKET2_BACKEND'
  return sh('cd / && ' .. env .. " luajit -e '" .. code:gsub("'", "'\\''") .. "'")
end

describe('install', function()
  after_each(H.no_leaks)

  it('make install PREFIX=... lays out share/lua/5.1 and lib/lua/5.1', function()
    H.skip_unless(not H.windows, 'installs a POSIX tree with make and sh, which the Windows bench (Wine) lacks')
    local prefix = tmpdir()
    local out, ok = sh('make --no-print-directory install PREFIX=' .. prefix)
    assert(ok, out)
    local res, ok2 = try_require(prefix)
    assert(ok2, res)
    assert.equal('epoll ' .. prefix .. '/share/lua/5.1/socket2.lua', res)
    assert(select(2, sh('rm -rf ' .. prefix)))
  end)

  it('luarocks make installs the rock offline', function()
    H.skip_unless(not H.windows, 'installs a POSIX tree with make and sh, which the Windows bench (Wine) lacks')
    if not select(2, sh('command -v luarocks')) then
      pending('luarocks is not installed')
      return
    end
    local tree = tmpdir()
    local out, ok = sh('luarocks --lua-version=5.1 make --tree ' .. tree .. ' socket2-scm-1.rockspec')
    assert(ok, out)
    local res, ok2 = try_require(tree)
    assert(ok2, res)
    assert.matches('^epoll ', res)
    assert(select(2, sh('rm -rf ' .. tree)))
  end)
end)
