-- socket2/args.lua: the argument checks every public call shares, and the
-- one rule for deadlines. A bad argument is a programming mistake: it
-- raises a Lua error that names the function and the argument (errors.arg).
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.os'
local errors = require'socket2.errors'

local type, floor, sizeof = type, math.floor, ffi.sizeof

local M = {}

local LEN_MAX = 0x7fffffff
M.LEN_MAX = LEN_MAX

-- sockets -------------------------------------------------------------------

function M.open(s, fname)
  if s._closed then errors.misuse(fname, 'socket is closed') end
end

-- A method called on a socket object (not with . instead of :), still open.
function M.self(s, fname)
  if type(s) ~= 'table' or s._rrec == nil then
    errors.misuse(fname, 'socket expected (did you call it with . instead of :?)')
  end
  if s._closed then errors.misuse(fname, 'socket is closed') end
end

-- One thread at a time per direction of a socket: rec is the direction's
-- wait record (sched.new_rec), busy while a call uses it.
function M.busy(rec, fname, what)
  if rec.busy then
    errors.misuse(fname, ('another thread is already %s this socket'):format(what))
  end
end

-- numbers -------------------------------------------------------------------

-- An integer 0..2^31-1 (a byte count, a maximum length).
function M.count(v, fname, argn, what)
  if type(v) ~= 'number' or not (v >= 0 and v <= LEN_MAX) or v ~= floor(v) then
    errors.arg(fname, argn, what .. ' must be an integer 0..2^31-1')
  end
end

-- Seconds: a number (not NaN) or nil. (A NULL cdata == nil: refused too.)
function M.seconds(v, fname, argn)
  if type(v) ~= 'nil' and (type(v) ~= 'number' or v ~= v) then
    errors.arg(fname, argn, 'timeout must be a number of seconds or nil')
  end
end

-- time ----------------------------------------------------------------------
-- Every call that can wait takes one time argument (its last), which is
-- either a timeout, a number of seconds from now (a duration: 0.5, 5), or
-- a deadline, an absolute socket.clock() time. socket.clock() counts from
-- an origin 2^32 s (136 years) in the past, so the two never overlap: a
-- number below 10^9 (31 years) is a duration, one from 2^32 up a deadline
-- (math.huge: never); what lies between (a time from another clock, such
-- as os.time()) is refused. A negative duration has already passed.
local ORIGIN, MAX_DURATION = 2 ^ 32, 1e9
local clock_raw = sys.clock
function M.clock() return clock_raw() + ORIGIN end
local clock = M.clock

-- A time argument: nil, a duration or a deadline (see above).
function M.expires(v, fname, argn)
  if type(v) ~= 'nil' then -- (a NULL cdata == nil: refused too)
    if type(v) ~= 'number' or v ~= v then
      errors.arg(fname, argn, 'timeout must be a number of seconds or a socket.clock() deadline')
    end
    if v > MAX_DURATION and v < ORIGIN then
      errors.arg(fname, argn, ('%.17g is neither a timeout in seconds nor a socket.clock() deadline'):format(v)
        .. ' (deadlines are socket.clock() + seconds; os.time() is another clock)')
    end
  end
end

-- The deadline of a call, as every layer computes it: expires nil means
-- timeout (a duration, or nil for none); false means none (a layer that
-- already decided "no deadline" passes false down); a number is a duration
-- or a deadline (see above). Returns an absolute clock() time or nil.
local function when(expires, timeout)
  if expires == nil then
    if not timeout then return nil end
    expires = timeout
  elseif not expires then
    return nil
  end
  if expires >= ORIGIN then return expires end
  if expires <= 0 then return clock() end -- (a huge negative one must stay a deadline)
  return clock() + expires
end
M.when = when

-- The same, where the timeout is the object's own (s:settimeout): sockets,
-- TLS sockets.
function M.deadline(s, expires) return when(expires, s._timeout) end

-- buffers -------------------------------------------------------------------

-- The size of a cdata buffer, or nil for a pointer (unknown). Only arrays,
-- pointers and structs are buffers: a scalar cdata (an int64, a double)
-- would reach C as a pointer made of its value. The kind of a ctype is
-- decided by its type (an 8-byte array is no pointer) and cached by ctype
-- id. ffi.sizeof() of a variable-length array (ffi.new('uint8_t[?]', n)) is
-- not compiled by LuaJIT (it aborted the trace of every recv/send given
-- one), so the sizes of arrays seen before are kept by object, weakly.
--
-- A never-seen array (or ctype) takes the slow path, and that runs in a
-- coroutine of its own: LuaJIT stitches the caller's trace around
-- coroutine.resume instead of recording into ffi.sizeof. Recorded, it
-- aborts the trace ("bad argument type"), and a side exit whose trace
-- aborts four times is left to the interpreter for good: new buffers
-- appear while a program's traces form, and the rest of every request
-- after such an exit then ran interpreted.
local buf_sizes = setmetatable({}, {__mode = 'k'})
local ctype_kind = {} -- id -> 'ptr' | 'sized' | 'scalar'
local function s_of(ct) return tostring(ct):match'^ctype<(.*)>$' or tostring(ct) end
local function slow_size(buf)
  while true do
    local ct = ffi.typeof(buf)
    local id = tonumber(ct)
    local kind = ctype_kind[id]
    if kind == nil then
      local s = tostring(ct)
      if s:find'%*>$' or s:find'&>$' then kind = 'ptr'
      elseif s:find'%[' or s:find'^ctype<struct' or s:find'^ctype<union' then kind = 'sized'
      else kind = 'scalar' end
      ctype_kind[id] = kind
    end
    local size = kind -- 'ptr' or 'scalar': no size
    if kind == 'sized' then
      size = sizeof(buf)
      buf_sizes[buf] = size
    end
    buf = coroutine.yield(size)
  end
end
local sizer = coroutine.create(slow_size)
local function buf_size(buf, fname)
  local size = buf_sizes[buf]
  if size then return size end
  local ct = ffi.typeof(buf)
  local kind = ctype_kind[tonumber(ct)]
  if kind == 'ptr' then return nil end -- a pointer: not kept (often temporary)
  if kind ~= 'scalar' then
    local ok
    ok, size = coroutine.resume(sizer, buf)
    if not ok then sizer = coroutine.create(slow_size); error(size, 0) end
    if size == 'ptr' then return nil end
    if size ~= 'scalar' then return size end
  end
  errors.arg(fname, 1, 'buffer expected (a cdata array, pointer or struct), got ' .. s_of(ct))
end

-- A cdata buffer and a length that fits it.
local function cdata_len(buf, len, fname)
  if type(len) ~= 'number' or len ~= len or len < 0 or len ~= floor(len) then
    errors.arg(fname, 2, 'length must be a non-negative integer')
  end
  local size = buf_size(buf, fname)
  if size and len > size then
    errors.arg(fname, 2, ('length %d is larger than the buffer (%d bytes)'):format(len, size))
  end
  if len > LEN_MAX then errors.arg(fname, 2, 'length too large') end
  if not size and len > 0 and buf == nil then errors.arg(fname, 1, 'NULL buffer') end
end

-- A buffer to read into (cdata) and its length.
function M.rbuf(buf, len, fname)
  if type(buf) ~= 'cdata' then
    errors.arg(fname, 1, 'cdata buffer expected, got ' .. type(buf))
  end
  cdata_len(buf, len, fname)
end

-- A buffer to send from: a string (len defaults to #s) or cdata; the length.
function M.wbuf(buf, len, fname)
  local t = type(buf)
  if t == 'string' then
    if len == nil then return #buf end
    if type(len) ~= 'number' or len < 0 or len > #buf or len ~= floor(len) then
      errors.arg(fname, 2, ('length must be an integer 0..%d'):format(#buf))
    end
    return len
  elseif t == 'cdata' then
    cdata_len(buf, len, fname)
    return len
  end
  errors.arg(fname, 1, 'string or cdata expected, got ' .. t)
end

-- MSG_* flags by name ('peek', 'peek oob') -> bits; nil -> 0.
local msgflag_cache = {}
function M.msgflags(flags, fname, argn)
  if flags == nil then return 0 end
  local f = msgflag_cache[flags]
  if f then return f end
  if type(flags) ~= 'string' then errors.arg(fname, argn, 'flags must be a string like \'peek\' or \'peek oob\'') end
  f = 0
  for name in flags:gmatch'%S+' do
    local v = sys.MSG[name]
    if not v then errors.arg(fname, argn, ('unknown flag \'%s\''):format(name)) end
    f = bit.bor(f, v)
  end
  msgflag_cache[flags] = f
  return f
end

return M
