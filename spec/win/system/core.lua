-- spec/win/system/core.lua: TEST-ONLY stand-in for lua-system's C module
-- under Wine (its source is not served by Debian's archive here). busted
-- uses gettime (wall clock), monotime and sleep; kernel32 gives all three.
local ffi = require'ffi'
ffi.cdef[[
void GetSystemTimeAsFileTime(uint64_t *ft);
int QueryPerformanceCounter(int64_t *count);
int QueryPerformanceFrequency(int64_t *freq);
void Sleep(uint32_t ms);
]]
local C = ffi.C
local ft, count = ffi.new'uint64_t[1]', ffi.new'int64_t[1]'
C.QueryPerformanceFrequency(count)
local freq = tonumber(count[0])
local UNIX_EPOCH = 116444736000000000ULL -- 1970-01-01 in 100 ns FILETIME ticks

local M = {}
function M.gettime()
  C.GetSystemTimeAsFileTime(ft)
  return tonumber(ft[0] - UNIX_EPOCH) / 1e7
end
function M.monotime()
  C.QueryPerformanceCounter(count)
  return tonumber(count[0]) / freq
end
function M.sleep(s)
  if s > 0 then C.Sleep(math.floor(s * 1000 + 0.5)) end
end
return M
