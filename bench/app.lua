-- bench/app.lua: the application logic of every Lua benchmark server
-- (socket2, bare, luv, cqueues, copas), so that they differ only in how
-- they move bytes. bench/c/server.c implements the same logic in C.
--
-- Handlers work on bytes in a cdata buffer and write replies into another:
--   used, olen = handler(ib, ilen, ob, ocap)
-- consumes complete requests from ib[0..ilen), appends their replies to
-- ob, stops when ob would overflow, and returns the bytes consumed (0:
-- need more input) and the reply length; nil on a protocol error.
-- Nothing here allocates per request.
local ffi = require'ffi'

ffi.cdef[[
void *memmove(void *dst, const void *src, size_t n);
int getpid(void);
]]
local C = ffi.C
local copy = ffi.copy

local M = {}

M.BUFSZ = 16384           -- per-connection input and output buffers
M.CHUNK = 256 * 1024      -- bulk: bytes per recv/send

-- constants ------------------------------------------------------------------

local CR, LF, SP, STAR, DOLLAR = 13, 10, 32, 42, 36

local PONG = '+PONG\r\n'
local ERR = '-ERR unknown command\r\n'
local EMPTY = '*0\r\n'
M.HTTP_REPLY = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!'
local HTTP_REPLY = M.HTTP_REPLY

-- helpers --------------------------------------------------------------------

-- Index of the '\r' of the first "\r\n" in p[i..n), or -1.
local function find_crlf(p, i, n)
  while i + 1 < n do
    if p[i] == CR and p[i + 1] == LF then return i end
    i = i + 1
  end
  return -1
end

-- Decimal digits p[i..e) -> number, or -1 if there are none or a non-digit.
local function parse_uint(p, i, e)
  if i >= e or e - i > 9 then return -1 end
  local v = 0
  while i < e do
    local d = p[i] - 48
    if d < 0 or d > 9 then return -1 end
    v = v * 10 + d
    i = i + 1
  end
  return v
end

-- Is p[i..i+len) "PING" or "CONFIG", any case? (bytes, no string made)
local function is_word(p, i, len, w, wlen)
  if len ~= wlen then return false end
  for k = 0, wlen - 1 do
    local c = p[i + k]
    if c >= 97 and c <= 122 then c = c - 32 end
    if c ~= w[k] then return false end
  end
  return true
end
local W_PING = ffi.new('const uint8_t[4]', 'PING')
local W_CONFIG = ffi.new('const uint8_t[6]', 'CONFIG')

-- Writes "$<len>\r\n<p[i..i+len)>\r\n" at ob[o]; returns the new o.
local function put_bulk(ob, o, p, i, len)
  ob[o] = DOLLAR
  o = o + 1
  local div = 1
  while div * 10 <= len do div = div * 10 end
  while div >= 1 do
    local d = math.floor(len / div) % 10
    ob[o] = 48 + d
    o = o + 1
    div = div / 10
  end
  ob[o], ob[o + 1] = CR, LF
  copy(ob + o + 2, p + i, len)
  o = o + 2 + len
  ob[o], ob[o + 1] = CR, LF
  return o + 2
end

-- The reply to one command (name at p[ci..ci+clen), argc words, the first
-- argument at p[ai..ai+alen)) appended at ob[o]; nil if it does not fit.
local function reply(p, ci, clen, argc, ai, alen, ob, o, ocap)
  if is_word(p, ci, clen, W_PING, 4) then
    if argc == 1 then
      if o + #PONG > ocap then return nil end
      copy(ob + o, PONG, #PONG)
      return o + #PONG
    elseif argc == 2 then
      if o + alen + 16 > ocap then return nil end
      return put_bulk(ob, o, p, ai, alen)
    end
  elseif is_word(p, ci, clen, W_CONFIG, 6) then
    -- redis-benchmark asks CONFIG GET save/appendonly first: no config here
    if o + #EMPTY > ocap then return nil end
    copy(ob + o, EMPTY, #EMPTY)
    return o + #EMPTY
  end
  if o + #ERR > ocap then return nil end
  copy(ob + o, ERR, #ERR)
  return o + #ERR
end

-- RESP: inline ("PING\r\n") and multibulk ("*1\r\n$4\r\nPING\r\n")
-- commands, pipelined, answered in order.
function M.resp(p, n, ob, ocap)
  local pos, o = 0, 0
  while pos < n do
    local ci, clen, argc, ai, alen, nextpos
    if p[pos] == STAR then
      local e = find_crlf(p, pos + 1, n)
      if e < 0 then break end
      argc = parse_uint(p, pos + 1, e)
      if argc < 1 or argc > 1024 then return nil end
      local q = e + 2
      local i = 1
      while i <= argc do
        if q >= n then break end
        if p[q] ~= DOLLAR then return nil end
        local e2 = find_crlf(p, q + 1, n)
        if e2 < 0 then break end
        local blen = parse_uint(p, q + 1, e2)
        if blen < 0 then return nil end
        local s = e2 + 2
        if s + blen + 2 > n then break end
        if i == 1 then ci, clen = s, blen elseif i == 2 then ai, alen = s, blen end
        q = s + blen + 2
        i = i + 1
      end
      if i <= argc then break end -- incomplete
      nextpos = q
    else
      local e = find_crlf(p, pos, n)
      if e < 0 then
        if n - pos > 4096 then return nil end
        break
      end
      -- words separated by spaces: the command and its first argument
      local i = pos
      while i < e and p[i] == SP do i = i + 1 end
      ci = i
      while i < e and p[i] ~= SP do i = i + 1 end
      clen = i - ci
      while i < e and p[i] == SP do i = i + 1 end
      argc = 1
      if i < e then
        ai = i
        while i < e and p[i] ~= SP do i = i + 1 end
        alen = i - ai
        argc = 2
        while i < e and p[i] == SP do i = i + 1 end
        if i < e then argc = 3 end
      end
      nextpos = e + 2
      if clen == 0 then argc = 0 end
    end
    if argc == 0 then -- an empty inline line: no reply
      pos = nextpos
    else
      local o2 = reply(p, ci, clen, argc, ai, alen, ob, o, ocap)
      if not o2 then break end
      o, pos = o2, nextpos
    end
  end
  return pos, o
end

-- HTTP/1.1 keep-alive: every request (headers up to the blank line; no
-- body) gets the same 200 response with a Content-Length.
function M.http(p, n, ob, ocap)
  local pos, o = 0, 0
  local rlen = #HTTP_REPLY
  while pos < n do
    local c = p[pos]
    if c < 65 or c > 90 then return nil end -- a method is upper case
    local i, e = pos, -1
    while i + 3 < n do
      if p[i] == CR and p[i + 1] == LF and p[i + 2] == CR and p[i + 3] == LF then
        e = i + 4
        break
      end
      i = i + 1
    end
    if e < 0 then break end
    if o + rlen > ocap then break end
    copy(ob + o, HTTP_REPLY, rlen)
    o, pos = o + rlen, e
  end
  return pos, o
end

-- Echo (connection churn: one byte each way).
function M.echo(p, n, ob, ocap)
  if n > ocap then n = ocap end
  copy(ob, p, n)
  return n, n
end

M.handlers = {resp = M.resp, http = M.http, churn = M.echo}

-- Bulk: the client sends "BULK <sink> <source>\n", then <sink> bytes; the
-- server counts them, then sends <source> bytes and closes.
-- Returns sink, source, header length; nil if incomplete; false if bad.
function M.bulk_header(p, n)
  local e = -1
  for i = 0, n - 1 do
    if p[i] == LF then e = i; break end
  end
  if e < 0 then return n > 64 and false or nil end
  if e < 5 or p[0] ~= 66 or p[4] ~= SP then return false end -- "BULK "
  local a, b = 0, 0
  local i = 5
  while i < e and p[i] ~= SP do
    local d = p[i] - 48
    if d < 0 or d > 9 then return false end
    a = a * 10 + d; i = i + 1
  end
  i = i + 1
  while i < e do
    local d = p[i] - 48
    if d < 0 or d > 9 then return false end
    b = b * 10 + d; i = i + 1
  end
  return a, b, e + 1
end

-- buffers ----------------------------------------------------------------------

-- A free list, so that connection churn reuses buffers as a C server would.
local free, nfree = {}, 0
function M.getbuf()
  if nfree > 0 then
    local b = free[nfree]
    free[nfree] = nil
    nfree = nfree - 1
    return b
  end
  return ffi.new('uint8_t[?]', M.BUFSZ)
end
function M.putbuf(b)
  nfree = nfree + 1
  free[nfree] = b
end

-- connections --------------------------------------------------------------------

-- Per-connection state for a handler: input bytes pending in ib[0..ilen).
function M.conn(kind)
  local h = M.handlers[kind]
  if not h then error('unknown workload ' .. tostring(kind)) end
  return {h = h, ib = M.getbuf(), ob = M.getbuf(), ilen = 0}
end

function M.free_conn(st)
  M.putbuf(st.ib); M.putbuf(st.ob)
  st.ib, st.ob = nil, nil
end

-- After st.ilen grew: answers every complete request through
-- out(arg, ob, olen) (true on success). Returns false to close.
function M.process(st, out, arg)
  local h, ib, ob = st.h, st.ib, st.ob
  local ilen = st.ilen
  while true do
    local used, olen = h(ib, ilen, ob, M.BUFSZ)
    if not used then return false end
    if olen > 0 and not out(arg, ob, olen) then return false end
    if used == 0 then break end
    ilen = ilen - used
    if ilen == 0 then break end
    C.memmove(ib, ib + used, ilen)
  end
  st.ilen = ilen
  return ilen < M.BUFSZ -- a request longer than the buffer: give up
end

local function sendall(c, ob, olen) return c:sendall(ob, olen) end

-- The connection loop of blocking-style servers: c has
-- c:recv(buf, len) -> n (0 at EOF) or nil, c:sendall(buf, len) -> truthy,
-- c:close().
function M.serve(c, kind)
  local st = M.conn(kind)
  local ib = st.ib
  while true do
    local ilen = st.ilen
    local n = c:recv(ilen == 0 and ib or ib + ilen, M.BUFSZ - ilen)
    if not n or n <= 0 then break end
    st.ilen = ilen + n
    if not M.process(st, sendall, c) then break end
  end
  M.free_conn(st)
  c:close()
end

-- Bulk for blocking-style servers. Besides recv/sendall/close, c has
-- c:discard(len) -> n (receive up to len bytes the cheapest way and drop
-- them; 0 at EOF) and c:send_chunk(len) -> truthy (send len <= CHUNK bytes
-- of the server's preallocated chunk).
function M.bulk_serve(c)
  local hb = M.getbuf()
  local got = 0
  local sink, source, hlen
  repeat
    local n = c:recv(got == 0 and hb or hb + got, 128 - got)
    if not n or n <= 0 then M.putbuf(hb); c:close(); return end
    got = got + n
    sink, source, hlen = M.bulk_header(hb, got)
  until sink ~= nil
  M.putbuf(hb)
  if not sink then c:close(); return end
  local left = sink - (got - hlen)
  while left > 0 do
    local n = c:discard(left < M.CHUNK and left or M.CHUNK)
    if not n or n <= 0 then c:close(); return end
    left = left - n
  end
  left = source
  while left > 0 do
    local len = left < M.CHUNK and left or M.CHUNK
    if not c:send_chunk(len) then break end
    left = left - len
  end
  c:close()
end

-- "PORT <port> PID <pid>": the line every server prints when it listens.
function M.ready(port)
  io.stdout:write(('PORT %d PID %d\n'):format(port, C.getpid()))
  io.stdout:flush()
end

-- Command line of every Lua server: workload.
function M.args(arg)
  local kind = arg[1]
  if kind ~= 'resp' and kind ~= 'http' and kind ~= 'bulk' and kind ~= 'churn' then
    io.stderr:write('usage: luajit ', arg[0], ' resp|http|bulk|churn\n')
    os.exit(2)
  end
  return kind
end

return M
