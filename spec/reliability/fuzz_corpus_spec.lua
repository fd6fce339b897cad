-- spec/reliability/fuzz_corpus_spec.lua: replays the kept fuzz corpus of the Lua
-- targets (fuzz/lua_targets.lua) without libFuzzer, so every input that
-- once found a bug (fuzz/corpus/*/finding-*) or widened coverage stays a
-- regression test. `make fuzz` grows the corpus; this only reads it.
local H = require'helpers'

-- lua_targets.lua puts the source tree on package.path and cpath (for
-- fuzz/fuzz_lua.c); later spec files must not see that: under Wine its
-- '?.so' made shim_spec find the Linux shim.so on package.cpath
local path, cpath = package.path, package.cpath
local targets = dofile('fuzz/lua_targets.lua')
package.path, package.cpath = path, cpath

local function inputs(dir)
  local t = {}
  for name in require'lfs'.dir(dir) do
    if name:sub(1, 1) ~= '.' then t[#t + 1] = name end
  end
  table.sort(t)
  return t
end

describe('fuzz corpus replay', function()
  after_each(H.no_leaks)
  for _, target in ipairs{'stream', 'addr', 'tls'} do
    it(target .. ': every input of fuzz/corpus/' .. target .. ' passes', function()
      local dir = 'fuzz/corpus/' .. target
      local names = inputs(dir)
      assert.is_true(#names > 0, 'empty corpus ' .. dir)
      for _, name in ipairs(names) do
        local f = assert(io.open(dir .. '/' .. name, 'rb'))
        local data = f:read'*a'
        f:close()
        local ok, err = pcall(targets[target], data)
        assert(ok, name .. ': ' .. tostring(err))
      end
    end)
  end
end)
