-- socket2/compat/rbuf.lua: the receive buffer of the compatibility layers
-- (socket2.ngx's cosockets, socket2.luasocket's tcp objects).
--
-- Both APIs read the same way, and not the way socket2.stream does: a read
-- that fails returns nil, err, partial, and the partial data is consumed
-- (handed to the caller, gone from the buffer); a line is what comes before
-- LF with every CR removed (not only the one before LF). So they share this
-- buffer instead: a cdata array with a read and a write position, filled by
-- one recv of the socket (a socket2 stream socket or a socket2.tls socket:
-- anything with :recv(buf, len, [time])) at a time.
--
-- Every reading function takes the socket and a time argument t passed to
-- each recv as it is (nil: no limit; a duration in seconds: an inactivity
-- timeout, as cosockets have; a socket.clock() deadline: a bound on the
-- whole call, as LuaSocket has). Failures are nil, err, partial, code,
-- where err is socket2's message ('timeout', 'closed' at EOF, ...) and
-- code its portable code ('EOF' at end of stream).
local ffi = require'ffi'

pcall(ffi.cdef, 'void *memchr(const void *s, int c, size_t n);')
pcall(ffi.cdef, 'void *memmove(void *dst, const void *src, size_t n);')
local C = ffi.C
local memchr, memmove, ffi_string, ffi_copy = C.memchr, C.memmove, ffi.string, ffi.copy
local u8p = ffi.typeof'uint8_t*'
local cast, tonumber, gsub = ffi.cast, tonumber, string.gsub

local M = {}

local DEFAULT_SIZE = 16384
local MIN_SPACE = 4096

function M.new(size)
  size = size or DEFAULT_SIZE
  return {buf = ffi.new('uint8_t[?]', size), size = size, rpos = 0, wpos = 0, eof = false}
end

-- Empties the buffer (a new connection).
function M.reset(b)
  b.rpos, b.wpos, b.eof = 0, 0, false
end

function M.buffered(b) return b.wpos - b.rpos end

-- Makes room for at least n more bytes after wpos.
local function reserve(b, n)
  local rpos, wpos = b.rpos, b.wpos
  if rpos == wpos then rpos, wpos = 0, 0; b.rpos, b.wpos = 0, 0 end
  if b.size - wpos >= n then return end
  local used = wpos - rpos
  if b.size - used >= n and rpos > 0 then
    memmove(b.buf, b.buf + rpos, used)
  else
    local size = b.size
    while size - used < n do size = size * 2 end
    local nb = ffi.new('uint8_t[?]', size)
    ffi_copy(nb, b.buf + rpos, used)
    b.buf, b.size = nb, size
  end
  b.rpos, b.wpos = 0, used
end

-- One recv into the buffer: true, or nil, err, code ('closed', 'EOF' at
-- the end of the stream; it stays there).
local function fill(b, sock, t, want)
  if b.eof then return nil, 'closed', 'EOF' end
  reserve(b, want or MIN_SPACE)
  local n, err, code = sock:recv(b.buf + b.wpos, b.size - b.wpos, t)
  if not n then return nil, err, code end
  if n == 0 then b.eof = true; return nil, 'closed', 'EOF' end
  b.wpos = b.wpos + n
  return true
end
M.fill = fill

-- n bytes at p as a string with every CR removed.
local function strip_cr(p, n)
  if n == 0 then return '' end
  if memchr(p, 13, n) == nil then return ffi_string(p, n) end
  return (gsub(ffi_string(p, n), '\r', ''))
end

-- Everything buffered, consumed (the partial data of a failed read).
local function take_all(b, cr)
  local n = b.wpos - b.rpos
  local p = b.buf + b.rpos
  b.rpos, b.wpos = 0, 0
  if cr then return strip_cr(p, n) end
  return ffi_string(p, n)
end
M.take_all = take_all

-- A line: the bytes before LF, every CR removed; LF consumed.
function M.line(b, sock, t)
  local scanned = 0
  while true do
    local base = b.buf + b.rpos
    local avail = b.wpos - b.rpos
    local p = memchr(base + scanned, 10, avail - scanned)
    if p ~= nil then
      local n = tonumber(cast(u8p, p) - base)
      local s = strip_cr(base, n)
      b.rpos = b.rpos + n + 1
      return s
    end
    scanned = avail
    local ok, err, code = fill(b, sock, t)
    if not ok then return nil, err, take_all(b, true), code end
  end
end

-- Exactly n bytes.
function M.bytes(b, sock, n, t)
  while b.wpos - b.rpos < n do
    local ok, err, code = fill(b, sock, t, n - (b.wpos - b.rpos))
    if not ok then return nil, err, take_all(b), code end
  end
  local s = ffi_string(b.buf + b.rpos, n)
  b.rpos = b.rpos + n
  return s
end

-- Up to n bytes: what is buffered, or what one recv brings.
function M.some(b, sock, n, t)
  if b.wpos == b.rpos then
    local ok, err, code = fill(b, sock, t)
    if not ok then return nil, err, '', code end
  end
  local k = b.wpos - b.rpos
  if k > n then k = n end
  local s = ffi_string(b.buf + b.rpos, k)
  b.rpos = b.rpos + k
  return s
end

-- Everything up to the end of the stream: data (the end is no failure),
-- or nil, err, partial, code for any other error.
function M.all(b, sock, t)
  while true do
    local ok, err, code = fill(b, sock, t)
    if not ok then
      if code == 'EOF' then return take_all(b) end
      return nil, err, take_all(b), code
    end
  end
end

-- receiveuntil: the data before a pattern. st is the iterator's state:
-- {pat =, inclusive =, done = false}. size nil: everything before the
-- pattern (the pattern consumed; appended when inclusive). size: at most
-- size bytes of it per call; the call that reaches the pattern returns what
-- is left (maybe '') and the next call returns nil, nil (the end; the
-- state resets). Bytes that may be the start of the pattern stay buffered
-- until the next bytes decide.
local function held_back(base, avail, pat, plen)
  -- the longest suffix of the buffered bytes that is a prefix of pat
  local k = plen - 1
  if k > avail then k = avail end
  while k > 0 do
    if ffi_string(base + avail - k, k) == pat:sub(1, k) then return k end
    k = k - 1
  end
  return 0
end

function M.until_(b, sock, st, size, t)
  if st.done then st.done = false; return nil, nil, nil end
  local pat, plen = st.pat, #st.pat
  local first = pat:byte(1)
  local from = 0
  while true do
    local base = b.buf + b.rpos
    local avail = b.wpos - b.rpos
    -- look for the pattern from 'from'
    local i = from
    local found
    while i <= avail - plen do
      local p = memchr(base + i, first, avail - plen - i + 1)
      if p == nil then break end
      i = tonumber(cast(u8p, p) - base)
      if plen == 1 or ffi_string(base + i, plen) == pat then found = i; break end
      i = i + 1
    end
    if found then
      if size and found > size then
        local s = ffi_string(base, size)
        b.rpos = b.rpos + size
        return s
      end
      local s = ffi_string(base, found)
      b.rpos = b.rpos + found + plen
      if st.inclusive then s = s .. pat end
      if size then st.done = true end
      return s
    end
    local safe = avail - held_back(base, avail, pat, plen)
    if size and safe >= size then
      local s = ffi_string(base, size)
      b.rpos = b.rpos + size
      return s
    end
    from = avail - plen + 1
    if from < 0 then from = 0 end
    local ok, err, code = fill(b, sock, t)
    if not ok then
      -- what cannot be the pattern's start is the partial data
      local p = ffi_string(b.buf + b.rpos, safe)
      b.rpos = b.rpos + safe
      return nil, err, p, code
    end
    -- (fill may have moved the data: every position is relative to rpos)
  end
end

return M
