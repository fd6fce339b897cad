-- socket2/stream.lua: a buffered reader and writer on a stream socket:
-- readline, read(n), readuntil(delim), readany(max); write(...) and flush().
-- What was received stays in the buffer when a call times out or the peer
-- closes, so nothing is lost: the next call (or st:buffered()) gets it.
-- Written data is kept until flush(), until more than wbufsize bytes wait,
-- or until the next read (so a request/response exchange never deadlocks).
local ffi = require'ffi'
local errors = require'socket2.errors'
local args = require'socket2.args'

ffi.cdef'void *memchr(const void *s, int c, size_t n);'
pcall(ffi.cdef, 'void *memmove(void *dst, const void *src, size_t n);')
local C = ffi.C

local M = {}
local st = {}
st.__index = st

local DEFAULT_SIZE = 16384
local DEFAULT_MAXLINE = 1024 * 1024
local check_count, check_expires = args.count, args.expires

-- socket2.stream(socket, [bufsize]) -> stream
function M.new(sock, size)
  if type(sock) ~= 'table' or not sock.recv then errors.arg('stream', 1, 'stream socket expected') end
  if type(size) ~= 'nil' and (type(size) ~= 'number' or not (size >= 1 and size <= 0x7fffffff)) then
    errors.arg('stream', 2, 'buffer size must be a number 1..2^31-1')
  end
  size = size or DEFAULT_SIZE
  return setmetatable({socket = sock, buf = ffi.new('uint8_t[?]', size), size = size,
    rpos = 0, wpos = 0, eof = false, expires = nil,
    wbuf = {}, wn = 0, wbytes = 0, wbufsize = size}, st)
end

-- Sends everything written so far: true, or nil, err, code, with what was
-- not sent kept for the next flush.
function st:flush(expires)
  check_expires(expires, 'flush', 1)
  if self.wn == 0 then return true end
  local data = self.wn == 1 and self.wbuf[1] or table.concat(self.wbuf, '', 1, self.wn)
  for i = 1, self.wn do self.wbuf[i] = nil end
  self.wn, self.wbytes = 0, 0
  local ok, err, code, sent = self.socket:sendall(data, nil, expires or self.expires)
  if not ok then
    self.wbuf[1], self.wn = data:sub((sent or 0) + 1), 1
    self.wbytes = #self.wbuf[1]
    return nil, err, code
  end
  return true
end

-- Makes room for at least n more bytes after wpos.
local function reserve(self, n)
  if self.rpos > 0 and self.rpos == self.wpos then self.rpos, self.wpos = 0, 0 end
  if self.size - self.wpos >= n then return end
  local used = self.wpos - self.rpos
  if self.rpos > 0 and self.size - used >= n then
    C.memmove(self.buf, self.buf + self.rpos, used) -- overlapping: not ffi.copy (memcpy)
  else
    local size = self.size
    while size - used < n do size = size * 2 end
    local nb = ffi.new('uint8_t[?]', size)
    ffi.copy(nb, self.buf + self.rpos, used)
    self.buf, self.size = nb, size
  end
  self.rpos, self.wpos = 0, used
end

-- One recv into the buffer: true, or nil, err, code (EOF: 'closed','EOF').
local function fill(self, expires)
  if self.eof then return errors.eof() end
  if self.wn > 0 then
    local ok, err, code = self:flush(expires)
    if not ok then return nil, err, code end
  end
  reserve(self, 4096)
  local n, err, code = self.socket:recv(self.buf + self.wpos, self.size - self.wpos, expires or self.expires)
  if not n then return nil, err, code end
  if n == 0 then self.eof = true; return errors.eof() end
  self.wpos = self.wpos + n
  return true
end

local function take(self, n, skip)
  local s = ffi.string(self.buf + self.rpos, n)
  self.rpos = self.rpos + n + (skip or 0)
  return s
end

function st:buffered()
  return ffi.string(self.buf + self.rpos, self.wpos - self.rpos)
end
function st:nbuffered() return self.wpos - self.rpos end

-- readline([keep_eol], [maxlen], [expires]) -> line without '\n' or '\r\n'
-- (with them when keep_eol). A line longer than maxlen is an error
-- ('line too long', 'EMSGSIZE') and stays buffered.
function st:readline(keep_eol, maxlen, expires)
  maxlen = maxlen or DEFAULT_MAXLINE
  check_count(maxlen, 'readline', 2, 'maxlen')
  check_expires(expires, 'readline', 3)
  local scanned = 0
  while true do
    local avail = self.wpos - self.rpos
    local p = C.memchr(self.buf + self.rpos + scanned, 10, avail - scanned)
    if p ~= nil then
      local n = tonumber(ffi.cast('uint8_t*', p) - (self.buf + self.rpos))
      local cut = (n > 0 and self.buf[self.rpos + n - 1] == 13) and 1 or 0
      if n - cut > maxlen then return errors.fail('EMSGSIZE', 'line too long') end
      if keep_eol then return take(self, n + 1) end
      return take(self, n - cut, 1 + cut)
    end
    scanned = avail
    -- no newline yet: too long already, unless the extra byte is a '\r'
    if avail > maxlen and not (avail == maxlen + 1 and self.buf[self.rpos + maxlen] == 13) then
      return errors.fail('EMSGSIZE', 'line too long')
    end
    local ok, err, code = fill(self, expires)
    if not ok then return nil, err, code end
  end
end

-- read(n) -> exactly n bytes, or nil, err, code with everything kept.
function st:read(n, expires)
  check_count(n, 'read', 1, 'byte count')
  check_expires(expires, 'read', 2)
  while self.wpos - self.rpos < n do
    reserve(self, n - (self.wpos - self.rpos))
    local ok, err, code = fill(self, expires)
    if not ok then return nil, err, code end
  end
  return take(self, n)
end

-- readuntil(delim, [maxlen]) -> the bytes before delim (delim consumed).
function st:readuntil(delim, maxlen, expires)
  if type(delim) ~= 'string' or #delim == 0 then errors.arg('readuntil', 1, 'non-empty delimiter string expected') end
  maxlen = maxlen or DEFAULT_MAXLINE
  check_count(maxlen, 'readuntil', 2, 'maxlen')
  check_expires(expires, 'readuntil', 3)
  local from = 1
  while true do
    local avail = self.wpos - self.rpos
    local s = ffi.string(self.buf + self.rpos, avail)
    local i = s:find(delim, from, true)
    if i then
      if i - 1 > maxlen then return errors.fail('EMSGSIZE', 'data too long before delimiter') end
      self.rpos = self.rpos + i - 1 + #delim
      return s:sub(1, i - 1)
    end
    if avail > maxlen + #delim then return errors.fail('EMSGSIZE', 'data too long before delimiter') end
    from = math.max(1, avail - #delim + 2)
    local ok, err, code = fill(self, expires)
    if not ok then return nil, err, code end
  end
end

-- readany([max]) -> what is buffered, or what one recv brings (up to max).
function st:readany(max, expires)
  max = max or self.size
  check_count(max, 'readany', 1, 'max')
  check_expires(expires, 'readany', 2)
  if self.wpos == self.rpos then
    local ok, err, code = fill(self, expires)
    if not ok then return nil, err, code end
  end
  local n = math.min(max, self.wpos - self.rpos)
  return take(self, n)
end

-- write(s, ...) buffers every argument (strings or numbers); more than
-- wbufsize bytes waiting are sent at once.
function st:write(...)
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if type(v) == 'number' then v = tostring(v) end
    if type(v) ~= 'string' then errors.arg('write', i, 'string expected, got ' .. type(v)) end
    self.wn = self.wn + 1
    self.wbuf[self.wn] = v
    self.wbytes = self.wbytes + #v
  end
  if self.wbytes >= self.wbufsize then return self:flush() end
  return true
end

-- Bytes written but not yet sent.
function st:nwritten() return self.wbytes end

function st:settimeout(t) self.socket:settimeout(t) return true end

-- STARTTLS (socket2.tls): st:starttls(ctx, [opts], [expires]) -> ts, the
-- stream's socket from now on; what was written is flushed first, what was
-- buffered is the peer's first ciphertext. See tls.starttls.
function st:starttls(ctx, opts, expires)
  return require'socket2.tls'.starttls(self, ctx, opts, expires)
end
-- Flushes what was written, then closes the socket.
function st:close()
  local ok, err, code = true, nil, nil
  if self.wn > 0 and not self.socket:closed() then ok, err, code = self:flush() end
  self.socket:close()
  if not ok then return nil, err, code end
  return true
end

return M
