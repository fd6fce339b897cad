-- socket2/errors.lua: every error socket2 makes is made here.
--   misuse (wrong argument, closed socket object) -> a Lua error naming the
--   function and argument: errors.arg(...), errors.misuse(...)
--   runtime failure -> nil, message, code: errors.os(errno), errors.s2(code)
--   for what the OS or the shim reports; one constructor per condition that
--   socket2 itself detects (errors.timeout(), errors.eof(), ...), or
--   errors.fail(code, detail) for a detailed message.
-- Codes are portable names ('ECONNREFUSED'), the same on every OS: the
-- shim's table (shim/common.c) plus the few codes only the Lua layer makes
-- (LUA_CODES below). errors.codes() lists them all; README's "Error codes"
-- table is checked against it (spec/unit/errors_spec.lua). Messages are
-- 'timeout' and 'closed' exactly for those two cases.
local ffi = require'ffi'
local shim = require'socket2.shim'
local S2 = shim.lib

local M = {}

local names, msgs = {}, {} -- by positive S2 code
local by_name = {}         -- code name -> its message
for code = 0, S2.S2_E_COUNT - 1 do
  names[code] = ffi.string(S2.s2_errname(code))
  msgs[code] = ffi.string(S2.s2_strerror(code))
  by_name[names[code]] = msgs[code]
end

-- The codes no OS error maps to: made by socket2's Lua layer only.
local LUA_CODES = {
  EOF = 'closed', -- the peer closed the stream before a read had what it needed
  -- socket2.tls (issue 14)
  ETLSVERIFY = 'certificate verify failed',      -- chain, expiry or host name rejected
  ETLSALERT = 'fatal alert from the TLS peer',    -- the peer sent a fatal alert
  ETLSPROTO = 'TLS protocol error',               -- garbage, plaintext, wrong version, bad record MAC
  ETLSTRUNC = 'TLS stream truncated',             -- EOF without close_notify
  ETLSCONFIG = 'TLS configuration error',         -- a context option was refused (file, key, ciphers)
}
for name, msg in pairs(LUA_CODES) do by_name[name] = msg end

-- Every portable code: name -> standard message ('OK' is no error).
function M.codes()
  local t = {}
  for name, msg in pairs(by_name) do if name ~= 'OK' then t[name] = msg end end
  return t
end

-- nil, message, code for a -S2_E* (or +S2_E*) shim code.
function M.s2(code)
  if code < 0 then code = -code end
  if not names[code] then code = S2.S2_EUNKNOWN end
  return nil, msgs[code], names[code]
end

-- nil, message, code for an OS error number (errno or WSAGetLastError()).
function M.os(errno)
  return M.s2(S2.s2_from_oserror(errno))
end

-- The portable name of an OS error number.
function M.name(errno)
  return names[-S2.s2_from_oserror(errno)] or 'EUNKNOWN'
end

-- nil, detail (or the code's standard message), code. The code must be a
-- known one: a typo in socket2 would otherwise be a silent API change.
function M.fail(code, detail)
  local msg = by_name[code]
  if not msg then error('socket2: unknown error code ' .. tostring(code), 2) end
  return nil, detail or msg, code
end

-- The conditions socket2 detects itself.
function M.timeout() return nil, 'timeout', 'ETIMEDOUT' end          -- a deadline passed
function M.closed() return nil, 'closed', 'ECANCELED' end            -- closed under a waiting call
function M.canceled() return nil, 'canceled', 'ECANCELED' end        -- s:cancel() under a waiting call
function M.would_block() return nil, 'would block', 'EAGAIN' end     -- non-blocking mode
function M.in_progress() return nil, 'connection in progress', 'EINPROGRESS' end
function M.eof() return nil, 'closed', 'EOF' end                     -- peer closed before a read was done

-- An accept that failed because the pending connection died before it was
-- taken (the listener is fine): the caller takes the next one. accept(2)
-- says ECONNABORTED; Windows' accept() and AcceptEx say ECONNRESET
-- (WSAECONNRESET, STATUS_CONNECTION_RESET), Wine's AcceptEx ENOTCONN
-- (STATUS_INVALID_CONNECTION). None of them can be the listener's own error.
M.PEER_GONE = {ECONNABORTED = true, ECONNRESET = true, ENOTCONN = true}

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
