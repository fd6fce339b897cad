-- socket2/compat/event.lua: a one-shot event that a caller waits on with a
-- timeout, from a socket2 thread (only it parks) or from outside any
-- thread (the loop runs meanwhile), built on socket2's public calls only:
-- the waiter joins a helper thread parked in socket.suspend; signal()
-- resumes the helper, which ends with the signal's values.
--   local ev = event.new()
--   ev:wait([timeout]) -> the values of signal(...), or nil, 'timeout'
--   ev:signal(...)     -> wakes the waiter (or the next wait returns at once)
local socket = require'socket2'

local newthread, suspend, resume, join, kill = socket.newthread, socket.suspend, socket.resume,
  socket.join, socket.kill
local unpack, select = unpack, select

local M = {}
local ev = {}
ev.__index = ev

function M.new() return setmetatable({helper = false, fired = false, vals = false}, ev) end

local function pack(...) return {n = select('#', ...), ...} end

function ev:wait(timeout)
  if self.fired then
    self.fired = false
    local v = self.vals
    self.vals = false
    return unpack(v, 1, v.n)
  end
  local h = newthread(suspend)
  self.helper = h
  local r = pack(join(h, timeout))
  self.helper = false
  if r[1] == nil then
    kill(h)
    return nil, r[2], r[3]
  end
  return unpack(r, 2, r.n)
end

function ev:signal(...)
  local h = self.helper
  if h then
    self.helper = false
    resume(h, ...)
    return true
  end
  self.fired, self.vals = true, pack(...)
  return false
end

-- Is someone waiting on it?
function ev:waiting() return self.helper ~= false end

return M
