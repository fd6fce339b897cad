-- socket2/thread.lua: OS threads, each running a fresh Lua state.
--
--   local thread = require'socket2.thread'
--   local t = thread.new(function(h, n) ... return 'done', n end, socket.epoll_fd(), 42)
--   print(t:join())  --> true  done  42
--
-- The function (or a string of Lua source) runs in a new LuaJIT state on a
-- new OS thread: it sees none of the caller's Lua values, so it must not
-- use upvalues; it gets its arguments, which, like its results, may only be
-- nil, booleans, numbers and strings. It can require'socket2' and share the
-- caller's kernel object with socket.epoll_fd(h) (kqueue_fd, iocp) before
-- its first other socket2 call; the sockets it makes are its own.
--
-- t:join() waits for the thread to end and returns true, ... (its results)
-- or false, message (its error, with traceback). The end of a thread is an
-- event of the caller's loop, so inside a socket2 thread join() parks only
-- that coroutine; outside, it runs the loop while it waits, like any call.
-- A thread must be joined, or detached with t:detach() (it then runs on by
-- itself); the caller's loop opens on thread.new, so share its handle first.
local ffi = require'ffi'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local errors = require'socket2.errors'

local S2 = shim.lib
local type, select, tostring, tonumber = type, select, tostring, tonumber
local concat, unpack = table.concat, unpack

local M = {}

-- values across states: nil, booleans, numbers, strings -------------------

-- One string for the values; nil, i, type when the i-th cannot cross.
local function encode(...)
  local parts, n = {}, select('#', ...)
  for i = 1, n do
    local v = select(i, ...)
    local t = type(v)
    if t == 'string' then parts[i] = 's' .. #v .. ':' .. v
    elseif t == 'number' then
      parts[i] = 'n' .. (v ~= v and 'nan' or v == 1/0 and 'inf' or v == -1/0 and '-inf'
        or ('%.17g'):format(v)) .. ';'
    elseif t == 'boolean' then parts[i] = v and 't' or 'f'
    elseif t == 'nil' then parts[i] = 'z'
    else return nil, i, t end
  end
  return concat(parts)
end

local CROSS = 'a %s cannot cross to another Lua state (nil, boolean, number, string only)'

local specials = {nan = 0/0, inf = 1/0, ['-inf'] = -1/0}

local function decode(s)
  local vals, n, i = {}, 0, 1
  while i <= #s do
    local c = s:sub(i, i)
    n = n + 1
    if c == 's' then
      local colon = s:find(':', i + 1, true)
      local len = tonumber(s:sub(i + 1, colon - 1))
      vals[n] = s:sub(colon + 1, colon + len)
      i = colon + len + 1
    elseif c == 'n' then
      local semi = s:find(';', i + 1, true)
      local txt = s:sub(i + 1, semi - 1)
      vals[n] = specials[txt] or tonumber(txt)
      i = semi + 1
    else
      if c == 't' then vals[n] = true elseif c == 'f' then vals[n] = false end
      i = i + 1
    end
  end
  return vals, n
end

-- in the new state --------------------------------------------------------------

local function pack(...) return {n = select('#', ...), ...} end

-- Called by the boot chunk with the encoded code and arguments; returns the
-- encoded results, or raises the function's error (with its traceback).
function M._child(arg)
  local vals, n = decode(arg)
  local fn, err = loadstring(vals[1], '=(socket2.thread)')
  if not fn then error(err, 0) end
  local res = pack(xpcall(function() return fn(unpack(vals, 2, n)) end, debug.traceback))
  if not res[1] then error(tostring(res[2]), 0) end
  local out, i, t = encode(unpack(res, 2, res.n))
  if not out then error(('socket2.thread: result #%d: ' .. CROSS):format(i, t), 0) end
  return out
end

-- in the caller ---------------------------------------------------------------------

local thread = {}
thread.__index = thread
thread.__tostring = function(t)
  return ('socket2.thread: %s'):format(t._joined and 'joined' or t._ended and 'ended' or 'running')
end

function thread:_on_event(_, result)
  self._ended = true
  self._ok = result == 1
  if self._rec.thread then sched.wake(self._rec, true) end
end

-- Frees the slot and the C thread (a running one is detached: it frees
-- itself when it ends).
local function release(self)
  self._joined = true
  sched.free_slot(self.id)
  local t = self._t
  ffi.gc(t, nil)
  S2.s2_thread_free(t)
end

function thread:join()
  if getmetatable(self) ~= thread then
    errors.misuse('join', 'thread expected (did you call it with . instead of :?)')
  end
  if self._joined then errors.misuse('join', 'thread already joined or detached') end
  if self._rec.thread then errors.misuse('join', 'another socket2 thread is already joining this thread') end
  while not self._ended do
    local ok, err, code = sched.park(self._rec)
    if not ok and not self._ended then return nil, err, code end
  end
  local res, len = ffi.new'const char*[1]', ffi.new'int32_t[1]'
  local rc = S2.s2_thread_join(self._t, res, len)
  if rc < 0 then return errors.s2(rc) end
  local s = ffi.string(res[0], len[0])
  release(self)
  if rc == 1 then
    local vals, n = decode(s)
    return true, unpack(vals, 1, n)
  end
  return false, s
end

-- Lets the thread run on by itself; it frees itself when it ends.
function thread:detach()
  if self._joined then return end
  if self._rec.thread then sched.wake(self._rec, errors.closed()) end
  release(self)
end
thread.close = thread.detach  -- what a closing loop calls on what it holds

function thread:ended() return self._ended == true end

-- thread.new(f | source, ...): starts an OS thread running f(...) in a new
-- Lua state. Raises on a programming mistake (bad code, upvalues, argument
-- types); returns nil, err, code when the thread cannot start.
function M.new(f, ...)
  local code
  if type(f) == 'function' then
    local info = debug.getinfo(f, 'uS')
    if info.what == 'C' then errors.arg('thread.new', 1, 'Lua function expected, got a C function') end
    if info.nups > 0 then
      errors.arg('thread.new', 1, ('the function uses %d upvalue(s) (%s): it runs in a new Lua state; '
        .. 'require modules inside it and pass values as arguments'):format(info.nups,
        tostring(debug.getupvalue(f, 1))))
    end
    code = string.dump(f)
  elseif type(f) == 'string' then
    local ok, err = loadstring(f, '=(socket2.thread)')
    if not ok then errors.arg('thread.new', 1, err) end
    code = f
  else
    errors.arg('thread.new', 1, 'function or Lua source string expected, got ' .. type(f))
  end
  local arg, i, t = encode(code, ...)
  if not arg then errors.arg('thread.new', i, CROSS:format(t)) end
  local boot = ('package.path = %q; package.cpath = %q; return require\'socket2.thread\'._child(...)')
    :format(package.path, package.cpath)
  local self = setmetatable({_rec = sched.new_rec(), _ended = false, _joined = false}, thread)
  self.id, self.gen = sched.alloc_slot(self)
  local out = ffi.new's2_thread*[1]'
  local rc = S2.s2_thread_start(boot, #boot, arg, #arg, sched.loop(), self.id, self.gen, out)
  if rc < 0 then
    sched.free_slot(self.id)
    self._joined = true
    return errors.s2(rc)
  end
  -- a thread object nobody refers to any more is detached when collected;
  -- a state that closes detaches what it still holds (the loop's finalizer
  -- in sched.loop calls close = detach on every object in a slot)
  self._t = ffi.gc(out[0], S2.s2_thread_free)
  return self
end

M.encode, M.decode = encode, decode -- for tests

return M
