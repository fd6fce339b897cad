-- socket2/errors.lua: the error convention in one place.
--   misuse (wrong argument, closed socket object) -> Lua error naming the
--   function and argument: errors.arg(...), errors.misuse(...)
--   runtime failure -> nil, message, code: errors.os(errno), errors.s2(code)
-- Codes are the shim's portable names ('ECONNREFUSED'), the same on every OS;
-- messages are 'timeout' and 'closed' exactly for those two cases.
local ffi = require'ffi'
local shim = require'socket2.shim'
local S2 = shim.lib

local M = {}

local names, msgs = {}, {} -- by positive S2 code, filled on first use

local function fill(code)
  names[code] = ffi.string(S2.s2_errname(code))
  msgs[code] = ffi.string(S2.s2_strerror(code))
end

-- nil, message, code for a -S2_E* (or +S2_E*) shim code.
function M.s2(code)
  if code < 0 then code = -code end
  if not names[code] then fill(code) end
  return nil, msgs[code], names[code]
end

-- nil, message, code for an OS error number (errno or WSAGetLastError()).
function M.os(errno)
  return M.s2(S2.s2_from_oserror(errno))
end

-- The portable name of an OS error number.
function M.name(errno)
  local _, _, name = M.os(errno)
  return name
end

function M.timeout() return nil, 'timeout', 'ETIMEDOUT' end
function M.closed() return nil, 'closed', 'ECANCELED' end

-- Misuse errors point at the user's line: the first stack frame outside
-- socket2's own files (only walked on the error path).
local LIB = debug.getinfo(1, 'S').source:match'^@(.*)errors%.lua$' -- '.../socket2/'
local function user_level()
  if not LIB then return 3 end
  -- ('socket2\' on Windows, where package.path puts the directory separator)
  local top = LIB:gsub('socket2[/\\]$', '') .. 'socket2' -- '.../socket2.lua' too
  for k = 3, 50 do
    local info = debug.getinfo(k, 'S')
    if not info then return 1 end
    local src = info.source
    if src:sub(1, 1) ~= '@' or src:sub(2, #top + 1) ~= top then return k - 1 end
  end
  return 1
end

function M.arg(fname, argn, msg)
  error(('bad argument #%d to \'%s\' (%s)'):format(argn, fname, msg), user_level())
end

function M.misuse(fname, msg)
  error(('%s: %s'):format(fname, msg), user_level())
end

return M
