-- socket2/stream.lua: a buffered reader and writer on a stream socket (or a
-- TLS socket): readline, read(n), readuntil(delim), readany(max); write(...)
-- and flush().
--
-- Reading: what was received stays in the buffer when a call times out or
-- the peer closes, so nothing is lost: the next call (or st:buffered()) gets
-- it. One thread reads at a time.
--
-- Writing is shared by the stream's threads: what they write queues, in
-- order, and one flusher at a time sends it (the socket has one writer). A
-- thread that calls flush() sends the queue itself, or, while another
-- thread is the flusher, waits until what it wrote has gone out. What is
-- written without a flush is sent by a background flusher, started at the
-- next turn of the loop, or before a read of this stream (a request is sent
-- before its answer is awaited); a write that fills the buffer (wbufsize)
-- flushes at once. While a flusher is at work, writers queue up to maxqueue
-- bytes; past that a write waits for the queue to drain (a peer that does
-- not read pushes back on its writers). A send error ends the writing: every
-- later write and flush returns it.
--
-- A timeout or deadline bounds the whole call, however the peer paces its
-- bytes; without one, the socket's timeout (st:settimeout) does.
--
-- Of its socket a stream uses recv, sendall, gettimeout, settimeout,
-- closed and close (a TLS socket has them too).
local ffi = require'ffi'
local errors = require'socket2.errors'
local args = require'socket2.args'
local sched = require'socket2.sched'
local addr = require'socket2.addr'

ffi.cdef'void *memchr(const void *s, int c, size_t n);'
pcall(ffi.cdef, 'void *memmove(void *dst, const void *src, size_t n);')
local C = ffi.C
local concat = table.concat

local M = {}
local st = {}
st.__index = st

local DEFAULT_SIZE = 16384
local DEFAULT_MAXLINE = 1024 * 1024
local MIN_MAXQUEUE = 65536
local check_count, check_expires = args.count, args.expires

-- socket2.stream(socket, [bufsize | {bufsize =, maxqueue =}]) -> stream. A
-- sockaddr as the 2nd argument is ignored, so that
-- socket.stream(srv:accept()) works.
function M.new(sock, opt)
  if type(sock) ~= 'table' or not sock.recv or not sock.sendall then
    errors.arg('stream', 1, 'stream socket expected')
  end
  if sock._stream == false then errors.arg('stream', 1, 'stream socket expected, got a datagram socket') end
  local size, maxqueue
  if type(opt) == 'table' then size, maxqueue = opt.bufsize, opt.maxqueue
  elseif not addr.is_sa(opt) then size = opt end
  if type(size) ~= 'nil' and (type(size) ~= 'number' or not (size >= 1 and size <= 0x7fffffff)) then
    errors.arg('stream', 2, 'buffer size must be a number 1..2^31-1')
  end
  size = size or DEFAULT_SIZE
  if maxqueue ~= nil then check_count(maxqueue, 'stream', 2, 'maxqueue') end
  return setmetatable({socket = sock, buf = ffi.new('uint8_t[?]', size), size = size,
    rpos = 0, wpos = 0, eof = false,
    -- writing: the queue (wbuf[1..wn], wbytes bytes), bytes ever queued and
    -- ever sent (a flush waits for its own), the flusher's presence, the
    -- threads waiting on it, a send error that ended the writing
    wbuf = {}, wn = 0, wbytes = 0, wbufsize = size, maxqueue = maxqueue or math.max(MIN_MAXQUEUE, 4 * size),
    queued = 0, sent = 0, flushing = false, waiters = {}, werr = false, kicked = false}, st)
end

-- The deadline of a call, computed when the call first has to wait: an
-- absolute time, or false for none. (The socket's calls then get it as
-- their time argument, nil for none: no deadline also means no socket
-- timeout, or the deadline would include it.)
local function deadline(self, expires)
  return args.when(expires, self.socket:gettimeout()) or false
end

-- writing -------------------------------------------------------------------

-- Wakes the threads waiting on the flusher (they look again).
local function wake_waiters(self)
  local w = self.waiters
  for i = #w, 1, -1 do
    local rec = w[i]
    w[i] = nil
    sched.wake(rec, true)
  end
end

-- Waits on the flusher until it has sent something, or failed, or left.
local function wait_flusher(self, dl)
  local rec = sched.new_rec()
  local w = self.waiters
  w[#w + 1] = rec
  local ok, err, code = sched.park(rec, dl or nil)
  if not ok then
    for i = #w, 1, -1 do if w[i] == rec then table.remove(w, i) end end
  end
  return ok, err, code
end

local function werr(self) return nil, self.werr[1], self.werr[2] end

-- Sends the queue as the flusher, until it is empty: true, or nil, err,
-- code. What is not sent stays queued, first.
local function send_queue(self, dl)
  self.flushing = true
  local ok, err, code = true, nil, nil
  while self.wn > 0 do
    local data = self.wn == 1 and self.wbuf[1] or concat(self.wbuf, '', 1, self.wn)
    for i = 1, self.wn do self.wbuf[i] = nil end
    self.wn, self.wbytes = 0, 0
    local sent
    ok, err, code, sent = self.socket:sendall(data, nil, dl or nil)
    sent = ok and #data or sent or 0
    self.sent = self.sent + sent
    if not ok then
      -- the rest goes out first next time (table.insert: others may have queued)
      if sent < #data then
        table.insert(self.wbuf, 1, data:sub(sent + 1))
        self.wn = self.wn + 1
        self.wbytes = self.wbytes + #data - sent
      end
      if code ~= 'ETIMEDOUT' then self.werr = {err, code} end
      break
    end
    wake_waiters(self)
  end
  self.flushing = false
  wake_waiters(self)
  if not ok then return nil, err, code end
  return true
end

-- Sends everything written before the call: true, or nil, err, code (what
-- was not sent stays queued).
function st:flush(expires)
  check_expires(expires, 'flush', 1)
  if self.werr then return werr(self) end
  local target = self.queued
  local dl
  while self.sent < target do
    if not self.flushing then
      if dl == nil then dl = deadline(self, expires) end
      return send_queue(self, dl)
    end
    if dl == nil then dl = deadline(self, expires) end
    local ok, err, code = wait_flusher(self, dl)
    if not ok then return nil, err, code end
    if self.werr then return werr(self) end
  end
  return true
end

-- The background flusher: a thread of its own, started at the next loop
-- turn for what was written and not flushed.
local function flusher(self)
  if self.wn > 0 and not self.flushing and not self.werr and not self.socket:closed() then
    send_queue(self, deadline(self, nil))
  end
end
local function kick(self)
  self.kicked = false
  if self.wn > 0 and not self.flushing and not self.werr and not self.socket:closed() then
    sched.newthread(flusher, self)
  end
end

-- write(s, ...) queues every argument (strings or numbers). true, or nil,
-- err, code: a send error that ended the writing, or a timeout of a write
-- that waited for a full queue to drain (nothing of it was queued then).
function st:write(...)
  local n = select('#', ...)
  for i = 1, n do
    local v = select(i, ...)
    if type(v) ~= 'string' and type(v) ~= 'number' then errors.arg('write', i, 'string expected, got ' .. type(v)) end
  end
  if self.werr then return werr(self) end
  local dl
  while self.flushing and self.wbytes >= self.maxqueue do -- push back
    if dl == nil then dl = deadline(self, nil) end
    local ok, err, code = wait_flusher(self, dl)
    if not ok then return nil, err, code end
    if self.werr then return werr(self) end
  end
  for i = 1, n do
    local v = tostring((select(i, ...)))
    self.wn = self.wn + 1
    self.wbuf[self.wn] = v
    self.wbytes = self.wbytes + #v
    self.queued = self.queued + #v
  end
  if self.flushing then return true end -- the flusher takes it
  if self.wbytes >= self.wbufsize then return send_queue(self, deadline(self, nil)) end
  if not self.kicked then
    self.kicked = true
    sched.soon(kick, self)
  end
  return true
end

-- Bytes written but not yet sent.
function st:nwritten() return self.wbytes end

-- reading -------------------------------------------------------------------

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

-- One recv into the buffer, within the deadline dl (false: none): true, or
-- nil, err, code (EOF: 'closed', 'EOF'). What is written goes out first,
-- unless another thread is sending it.
local function fill(self, dl)
  if self.eof then return errors.eof() end
  if self.wn > 0 and not self.flushing and not self.werr then
    local ok, err, code = send_queue(self, dl)
    if not ok then return nil, err, code end
  end
  reserve(self, 4096)
  local n, err, code = self.socket:recv(self.buf + self.wpos, self.size - self.wpos, dl or nil)
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
  local scanned, dl = 0, nil
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
    if dl == nil then dl = deadline(self, expires) end
    local ok, err, code = fill(self, dl)
    if not ok then return nil, err, code end
  end
end

-- read(n) -> exactly n bytes, or nil, err, code with everything kept.
function st:read(n, expires)
  check_count(n, 'read', 1, 'byte count')
  check_expires(expires, 'read', 2)
  local dl
  while self.wpos - self.rpos < n do
    reserve(self, n - (self.wpos - self.rpos))
    if dl == nil then dl = deadline(self, expires) end
    local ok, err, code = fill(self, dl)
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
  local from, dl = 1, nil
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
    if dl == nil then dl = deadline(self, expires) end
    local ok, err, code = fill(self, dl)
    if not ok then return nil, err, code end
  end
end

-- readany([max]) -> what is buffered, or what one recv brings (up to max).
function st:readany(max, expires)
  max = max or self.size
  check_count(max, 'readany', 1, 'max')
  check_expires(expires, 'readany', 2)
  if self.wpos == self.rpos then
    local ok, err, code = fill(self, deadline(self, expires))
    if not ok then return nil, err, code end
  end
  local n = math.min(max, self.wpos - self.rpos)
  return take(self, n)
end

-- the rest ----------------------------------------------------------------------

function st:settimeout(t) self.socket:settimeout(t) return true end
function st:gettimeout() return self.socket:gettimeout() end

-- STARTTLS (socket2.tls): st:starttls(ctx, [opts], [expires]) -> ts, the
-- stream's socket from now on; what was written is flushed first, what was
-- buffered is the peer's first ciphertext. See tls.starttls.
function st:starttls(ctx, opts, expires)
  return require'socket2.tls'.starttls(self, ctx, opts, expires)
end

-- Flushes what was written (within expires, or the socket's timeout), then
-- closes the socket.
function st:close(expires)
  check_expires(expires, 'close', 1)
  local ok, err, code = true, nil, nil
  if (self.wn > 0 or self.flushing) and not self.socket:closed() then ok, err, code = self:flush(expires) end
  self.socket:close()
  if not ok then return nil, err, code end
  return true
end

return M
