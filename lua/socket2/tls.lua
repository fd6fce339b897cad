-- socket2.tls: TLS over OpenSSL 3 through the FFI, on every backend.
--   local tls = require'socket2.tls'
--   local ts = assert(tls.connect('example.com', 443))      -- verified
--   local st = socket.stream(ts)                             -- readline & co
--
-- The engine (one per connection) runs OpenSSL over two memory BIOs: it
-- never touches the descriptor. Ciphertext moves through the socket's own
-- recv and sendall, which already work on epoll, kqueue, io_uring and IOCP,
-- so one Lua path serves them all. A `ts` has the stream-socket methods
-- with their signatures, returns and error convention (socket.stream(ts)
-- works unchanged), plus the TLS-only ones (alpn, version, cipher, ...).
--
-- Rules the engine keeps (see README "TLS"):
--   * output an OpenSSL call produced (handshake flights, alerts, KeyUpdate
--     replies, close_notify) is sent after that call; one thread at a time
--     sends ciphertext (the flusher), so records keep their order;
--   * one reader and one writer may use a ts at once (a second one of
--     either is a misuse error, as on stream sockets);
--   * a handshake that failed, and every call after it, returns the same
--     nil, msg, code: nothing after a failure is ever read as plaintext;
--     a handshake that timed out goes on when called again;
--   * after any wait, a ts closed meanwhile is not touched (its SSL is
--     freed); buffers the kernel may write belong to the ts (Lua-owned);
--   * SSL_do_handshake (where callbacks into Lua may run) is only called
--     from a function the JIT does not compile; the data path runs no
--     callback and allocates nothing in steady state.
local ffi = require'ffi'
local errors = require'socket2.errors'
local args = require'socket2.args'
local sched = require'socket2.sched'
local sys = require'socket2.os'
local lib = require'socket2.tls.lib'

local type, tonumber = type, tonumber
local clock = sys.clock
local deadline = args.deadline

local M = {}

-- tls.available() -> true | nil, msg, 'ENOSYS'
function M.available()
  if lib.ok then return true end
  return errors.fail('ENOSYS', lib.err)
end

-- tls.version() -> 'OpenSSL 3.0.19 27 Jan 2026', or nil, msg, 'ENOSYS'
function M.version()
  if lib.ok then return lib.version end
  return errors.fail('ENOSYS', lib.err)
end

local function need_lib(fname)
  if not lib.ok then return errors.fail('ENOSYS', fname .. ': ' .. lib.err) end
  return true
end

local context
function M.context(opts)
  local ok, err, code = need_lib('context')
  if not ok then
    if type(opts) ~= 'nil' and type(opts) ~= 'table' then errors.arg('context', 1, 'options table expected') end
    return nil, err, code
  end
  context = context or require'socket2.tls.context'
  return context.new(opts)
end

if not lib.ok then
  -- no libssl 3: everything else in socket2 keeps working; these say why
  local function nosys(fname) return function() return errors.fail('ENOSYS', fname .. ': ' .. lib.err) end end
  M.wrap, M.connect, M.starttls, M.session = nosys'wrap', nosys'connect', nosys'starttls', nosys'session'
  return M
end

context = require'socket2.tls.context'
local SSL, CR = lib.ssl, lib.crypto
local ossl_error = context.ossl_error
local cstring = lib.cstring

local WANT_READ, WANT_WRITE, ZERO_RETURN = lib.SSL_ERROR_WANT_READ, lib.SSL_ERROR_WANT_WRITE, lib.SSL_ERROR_ZERO_RETURN
local BIO_PENDING, BIO_EOF = lib.BIO_CTRL_PENDING, lib.BIO_C_SET_BUF_MEM_EOF_RETURN

-- Buffer sizes: a receive takes up to one full TLS record (16 KiB + header
-- and tag); one SSL_write_ex encrypts at most CHUNK bytes, then that
-- output is sent, so a 32 MB sendall never queues more than one chunk.
local INSZ = 16384 + 512
local OUTSZ = 16384 + 512
local CHUNK = 4 * 16384

-- out-param of SSL_read_ex/SSL_write_ex (a size_t as two 32-bit words: no
-- box; read at once, never across a wait)
local nbytes = ffi.new'uint32_t[2]'
local LO = ffi.abi'le' and 0 or 1
local u8p = ffi.typeof'uint8_t*'
local cu8p = ffi.typeof'const uint8_t*'
local buf_ct = ffi.typeof'uint8_t[?]'

-- The buffers of closed connections, for the next ones (a connection
-- gives its buffers back at close() when no call of another thread can
-- still be using them; else the GC takes them).
local POOL_MAX = 64
local in_pool, out_pool, n_in, n_out = {}, {}, 0, 0
local function get_in()
  if n_in == 0 then return buf_ct(INSZ) end
  local b = in_pool[n_in]; in_pool[n_in] = nil; n_in = n_in - 1
  return b
end
local function get_out()
  if n_out == 0 then return buf_ct(OUTSZ) end
  local b = out_pool[n_out]; out_pool[n_out] = nil; n_out = n_out - 1
  return b
end
local function give_back(t)
  if t.rbusy or t.wbusy or t.flushing or t.hs_running then return end
  if t.inbuf and n_in < POOL_MAX then n_in = n_in + 1; in_pool[n_in] = t.inbuf end
  if t.outbuf and n_out < POOL_MAX then n_out = n_out + 1; out_pool[n_out] = t.outbuf end
  t.inbuf, t.outbuf = false, false
end

local ts_methods = {}
local ts_mt = {__index = ts_methods}
ts_mt.__tostring = function(t)
  return 'socket2.tls: ' .. (t._closed and 'closed' or (t.server and 'server ' or 'client ') .. tostring(t.sock))
end

-- phases
local NEW, HANDSHAKE, OPEN = 0, 1, 2

-- checks ----------------------------------------------------------------------

local function check(t, fname)
  if getmetatable(t) ~= ts_mt then
    errors.misuse(fname, 'TLS socket expected (did you call it with . instead of :?)')
  end
  if t._closed then errors.misuse(fname, 'socket is closed') end
end

local function is_ip(host)
  return host:find(':', 1, true) ~= nil or host:match'^%d+%.%d+%.%d+%.%d+$' ~= nil
end

-- errors ----------------------------------------------------------------------

-- The error of a failed SSL call (SSL_get_error e): msg, code. Drains
-- OpenSSL's error queue (it is per OS thread, shared by every connection).
local function ssl_failure(t, e)
  local first = CR.ERR_peek_error()
  local reason = 0
  if first ~= 0 then
    first = tonumber(first)
    -- ERR_GET_REASON: a system error (top bit) has no library reason
    if first < 0x80000000 then reason = first % 0x800000 end
  end
  local msg = ossl_error()
  if reason == lib.R_CERTIFICATE_VERIFY_FAILED then
    local v = tonumber(SSL.SSL_get_verify_result(t.ssl))
    local why = v ~= 0 and ffi.string(CR.X509_verify_cert_error_string(v)) or msg
    return 'certificate verify failed: ' .. why, 'ETLSVERIFY'
  elseif reason == lib.R_PEER_DID_NOT_RETURN_A_CERTIFICATE then
    return msg, 'ETLSVERIFY'
  elseif reason >= lib.R_ALERT_BASE then
    return msg, 'ETLSALERT'
  elseif reason == lib.R_UNEXPECTED_EOF_WHILE_READING then
    return msg, 'ETLSTRUNC'
  elseif not msg then
    if t.eof then return 'unexpected eof while reading', 'ETLSTRUNC' end
    return ('TLS error (SSL_get_error %d)'):format(e), 'ETLSPROTO'
  end
  return msg, 'ETLSPROTO'
end

-- A fatal failure: stored, so that every later call returns it too.
local function fatal(t, msg, code)
  if not t.err_code then t.err_msg, t.err_code = msg, code end
  return nil, t.err_msg, t.err_code
end

-- transport errors that end the connection (not a timeout, a cancel, or
-- the ts being closed: those leave it usable, or are reported as they are)
local PASSING = {ETIMEDOUT = true, ECANCELED = true, EAGAIN = true}
local function transport_fail(t, err, code)
  if t._closed then return errors.closed() end
  if PASSING[code] then return nil, err, code end
  return fatal(t, err, code)
end

-- waiting on the engine's own events (the flusher is done, the handshake
-- ended): one record per direction, as a stream socket has one per direction
local park, wake = sched.park, sched.wake

local function wake_all(t, a, b, c)
  if t.rwait.thread then wake(t.rwait, a, b, c) end
  if t.wwait.thread then wake(t.wwait, a, b, c) end
end

local function wait_engine(t, rec, dl)
  local ok, err, code = park(rec, dl)
  if t._closed then return errors.closed() end
  if ok == nil then return nil, err, code end
  return true
end

-- moving ciphertext ---------------------------------------------------------------

-- One receive from the socket into the read BIO: true, or nil, err, code.
-- EOF is fed to OpenSSL (the read BIO then reads as end of file), which
-- tells a close_notify from a truncation.
local function fill(t, dl)
  if t.eof then return nil, 'unexpected eof while reading', 'ETLSTRUNC' end
  local inbuf = t.inbuf
  if not inbuf then inbuf = get_in(); t.inbuf = inbuf end
  local n, err, code = t.sock:recv(inbuf, INSZ, dl)
  if t._closed then return errors.closed() end
  if not n then return transport_fail(t, err, code) end
  if n == 0 then
    t.eof = true
    CR.BIO_ctrl(t.rbio, BIO_EOF, 0, nil)
    return true
  end
  CR.BIO_write(t.rbio, inbuf, n)
  return true
end

local function has_output(t)
  return t.outpos < t.outlen or CR.s2tls_BIO_pending(t.wbio, BIO_PENDING, 0, nil) > 0
end

-- Sends every byte of the write BIO (the caller holds the flusher role):
-- true, or nil, err, code with what was not sent kept (the bytes of a
-- partial send stay in outbuf and go first next time).
local function drain(t, dl)
  local outbuf = t.outbuf
  if not outbuf then outbuf = get_out(); t.outbuf = outbuf end
  while true do
    local pos, len = t.outpos, t.outlen
    if pos == len then
      len = CR.BIO_read(t.wbio, outbuf, OUTSZ)
      if len <= 0 then t.outpos, t.outlen = 0, 0; return true end
      pos = 0
      t.outpos, t.outlen = 0, len
    end
    local n, err, code, sent = t.sock:sendall(pos == 0 and outbuf or ffi.cast(u8p, outbuf) + pos, len - pos, dl)
    if t._closed then return errors.closed() end
    if not n then
      t.outpos = pos + (sent or 0)
      return transport_fail(t, err, code)
    end
    t.outpos = len
  end
end

-- Takes the flusher role (waiting for the thread that holds it), sends
-- what is queued, hands the role back: true, or nil, err, code.
local function flush(t, dl, rec)
  while t.flushing do
    local ok, err, code = wait_engine(t, rec, dl)
    if not ok then return nil, err, code end
  end
  t.flushing = true
  local ok, err, code = drain(t, dl)
  t.flushing = false
  if t.rwait.thread or t.wwait.thread then wake_all(t, true) end
  return ok, err, code
end

-- After a fatal error: one attempt to send the alert OpenSSL queued (the
-- peer then learns why), without waiting for it.
local function send_alert(t)
  if t._closed or t.flushing or not has_output(t) then return end
  t.flushing = true
  drain(t, clock())
  t.flushing = false
end

-- the handshake -------------------------------------------------------------------

-- Runs SSL_do_handshake until it is done: true, or nil, err, code. Not
-- compiled (jit.off below): callbacks (ALPN, SNI, keylog) run inside it.
local function handshake_run(t, dl)
  CR.ERR_clear_error()
  while true do
    local r = SSL.SSL_do_handshake(t.ssl)
    local e = r == 1 and 0 or SSL.SSL_get_error(t.ssl, r)
    if r ~= 1 and e ~= WANT_READ and e ~= WANT_WRITE then
      local msg, code = ssl_failure(t, e)
      if e == ZERO_RETURN or (code == 'ETLSPROTO' and t.eof) then
        msg, code = 'unexpected eof during the handshake', 'ETLSTRUNC'
      end
      fatal(t, msg, code)
      send_alert(t)
      return nil, t.err_msg, t.err_code
    end
    if has_output(t) then
      t.flushing = true
      local ok, err, code = drain(t, dl)
      t.flushing = false
      if not ok then return nil, err, code end
    end
    if r == 1 then return true end
    if e == WANT_READ then
      local ok, err, code = fill(t, dl)
      if not ok then return nil, err, code end
    end
  end
end
jit.off(handshake_run)

-- The handshake, run by the first caller that needs it; other callers
-- (the other direction) wait for its end: true, or nil, err, code.
local function handshake(t, dl, rec)
  while true do
    if t.err_code then return nil, t.err_msg, t.err_code end
    if t.phase == OPEN then return true end
    if not t.hs_running then break end
    local ok, err, code = wait_engine(t, rec, dl)
    if not ok then return nil, err, code end
  end
  t.hs_running, t.phase = true, HANDSHAKE
  local ok, err, code = handshake_run(t, dl)
  if t._closed then return errors.closed() end
  t.hs_running = false
  if ok then t.phase = OPEN end
  if t.rwait.thread or t.wwait.thread then wake_all(t, true) end
  if not ok then return nil, err, code end
  return true
end

-- reading ---------------------------------------------------------------------------

-- recv: the ready case runs straight through; a record not yet there is
-- received by read_more, which retries by a tail call (no loop: see
-- io_reactor.lua on why a loop here would keep callers' loops from compiling).
local read_step

local function read_fail(t, err, code)
  t.rbusy = false
  return nil, err, code
end

local function read_more(t, buf, len, dl)
  -- output of the last read (a KeyUpdate reply) goes out first, unless the
  -- writer is at work: it sends everything queued before it returns
  if not t.wbusy and not t.flushing and has_output(t) then
    local ok, err, code = flush(t, dl, t.rwait)
    if not ok then return read_fail(t, err, code) end
  end
  local ok, err, code = fill(t, dl)
  if not ok then return read_fail(t, err, code) end
  return read_step(t, buf, len, dl)
end

function read_step(t, buf, len, dl)
  local ssl = t.ssl
  local r = SSL.s2tls_SSL_read_ex(ssl, buf, len, nbytes)
  if r == 1 then
    local n = nbytes[LO]
    if not t.wbusy and not t.flushing and has_output(t) then flush(t, dl, t.rwait) end
    t.rbusy = false
    return n
  end
  local e = SSL.SSL_get_error(ssl, r)
  if e == WANT_READ then return read_more(t, buf, len, dl) end
  t.rbusy = false
  if e == ZERO_RETURN then -- the peer's close_notify (or EOF, with ragged_eof)
    t.rclosed = true
    return 0
  end
  if e == WANT_WRITE then return read_step(t, buf, len, dl) end -- (a memory BIO takes all)
  local msg, code = ssl_failure(t, e)
  fatal(t, msg, code)
  send_alert(t)
  return nil, t.err_msg, t.err_code
end

local function recv_checked(t, buf, len, dl, fname)
  if t.rbusy then errors.misuse(fname, 'another thread is already reading this socket') end
  if t.err_code then return nil, t.err_msg, t.err_code end
  if t.rclosed or len == 0 then return 0 end
  t.rbusy = true
  if t.phase ~= OPEN then
    local ok, err, code = handshake(t, dl, t.rwait)
    if not ok then return read_fail(t, err, code) end
  end
  return read_step(t, buf, len, dl)
end

-- ts:recv(buf, len, [expires]) -> n (0 only after the peer's close_notify)
function ts_methods:recv(buf, len, expires)
  check(self, 'recv')
  args.rbuf(buf, len, 'recv')
  args.expires(expires, 'recv', 3)
  return recv_checked(self, buf, len, deadline(self, expires), 'recv')
end

-- ts:recvall(buf, len, [expires]) -> len, or nil, err, code, received
function ts_methods:recvall(buf, len, expires)
  check(self, 'recvall')
  args.rbuf(buf, len, 'recvall')
  args.expires(expires, 'recvall', 3)
  local dl = deadline(self, expires)
  local p -- a pointer only once a receive was short
  local got = 0
  while got < len do
    if got > 0 and not p then p = ffi.cast(u8p, buf) end
    local n, err, code = recv_checked(self, got == 0 and buf or p + got, len - got, dl, 'recvall')
    if not n then return nil, err, code, got end
    if n == 0 then
      local _, msg, eof = errors.eof()
      return nil, msg, eof, got
    end
    got = got + n
  end
  return len
end

-- writing ---------------------------------------------------------------------------

-- Encrypts up to CHUNK bytes and sends them: the plaintext bytes taken, or
-- nil, err, code (nothing taken). Bytes once encrypted are sent, if not now
-- (a deadline passed while the kernel's buffer was full) then first thing
-- on the next call: they count as sent.
local function send_checked(t, buf, len, dl)
  if t.err_code then return nil, t.err_msg, t.err_code end
  if t.wshut then return errors.fail('ESHUTDOWN') end
  if t.phase ~= OPEN then
    local ok, err, code = handshake(t, dl, t.wwait)
    if not ok then return nil, err, code end
  end
  if t.flushing or has_output(t) then -- earlier output first
    local ok, err, code = flush(t, dl, t.wwait)
    if not ok then return nil, err, code end
  end
  if len == 0 then return 0 end
  local r = SSL.s2tls_SSL_write_ex(t.ssl, buf, len > CHUNK and CHUNK or len, nbytes)
  if r ~= 1 then
    local e = SSL.SSL_get_error(t.ssl, r)
    local msg, code = ssl_failure(t, e)
    fatal(t, msg, code)
    send_alert(t)
    return nil, t.err_msg, t.err_code
  end
  local n = nbytes[LO]
  local ok, err, code = flush(t, dl, t.wwait)
  if not ok then
    if not PASSING[code] then return nil, err, code end
    return n, err, code -- taken, but a deadline or cancel stopped the sending
  end
  return n
end

-- ts:send(buf, [len], [expires]) -> bytes taken (at most 64 KiB per call)
function ts_methods:send(buf, len, expires)
  check(self, 'send')
  len = args.wbuf(buf, len, 'send')
  args.expires(expires, 'send', 3)
  if self.wbusy then errors.misuse('send', 'another thread is already writing this socket') end
  self.wbusy = true
  local n, err, code = send_checked(self, buf, len, deadline(self, expires))
  self.wbusy = false
  if n then return n end
  return nil, err, code
end

-- ts:sendall(buf, [len], [expires]) -> len, or nil, err, code, sent. A
-- deadline that passes while the last bytes wait in the kernel's full
-- buffer is reported (they go out first on the next call).
function ts_methods:sendall(buf, len, expires)
  check(self, 'sendall')
  len = args.wbuf(buf, len, 'sendall')
  args.expires(expires, 'sendall', 3)
  if self.wbusy then errors.misuse('sendall', 'another thread is already writing this socket') end
  self.wbusy = true
  local dl = deadline(self, expires)
  local p -- a pointer only once a send took part of it
  local sent = 0
  repeat
    if sent > 0 and not p then p = ffi.cast(cu8p, buf) end
    local n, err, code = send_checked(self, sent == 0 and buf or p + sent, len - sent, dl)
    if not n then self.wbusy = false; return nil, err, code, sent end
    sent = sent + n
    if err then self.wbusy = false; return nil, err, code, sent end
  until sent >= len
  -- all taken; a deadline that passed while the end was queued is an error
  if has_output(self) and not self._closed then
    local ok, err, code = flush(self, dl, self.wwait)
    if not ok then self.wbusy = false; return nil, err, code, sent end
  end
  self.wbusy = false
  return len
end

-- the handshake, explicitly ------------------------------------------------------------

-- ts:handshake([expires]) -> true, or nil, err, code. Optional: the first
-- recv or send runs it. After a timeout, calling it again goes on.
function ts_methods:handshake(expires)
  check(self, 'handshake')
  args.expires(expires, 'handshake', 1)
  -- wait (if another thread runs the handshake) on a record nobody waits on
  local rec = self.rbusy and self.wwait or self.rwait
  if rec.thread then rec = rec == self.rwait and self.wwait or self.rwait end
  if rec.thread then errors.misuse('handshake', 'two other threads already wait on this socket') end
  return handshake(self, deadline(self, expires), rec)
end

-- closing -------------------------------------------------------------------------------

-- Client sessions: one kept per host:port[:alpn] (a TLS 1.3 ticket resumes
-- once: each connection leaves the next one its own), at most
-- ctx.cache_max in all.
local function cache_put(t)
  local ctx, key = t.ctx, t.cache_key
  if not key or ctx.cache_max <= 0 then return end
  local s = SSL.SSL_get1_session(t.ssl)
  if s == nil then return end
  if SSL.SSL_SESSION_is_resumable(s) ~= 1 then SSL.SSL_SESSION_free(s); return end
  local old = ctx.cache[key]
  if old then SSL.SSL_SESSION_free(old) else ctx.ncache = ctx.ncache + 1 end
  ctx.cache[key] = s
  while ctx.ncache > ctx.cache_max do
    local k, v = next(ctx.cache)
    if k == key then k, v = next(ctx.cache, k) end
    ctx.cache[k] = nil
    SSL.SSL_SESSION_free(v)
    ctx.ncache = ctx.ncache - 1
  end
end

local function cache_take(ctx, key)
  local s = ctx.cache[key]
  if s then ctx.cache[key] = nil; ctx.ncache = ctx.ncache - 1 end
  return s
end

local function free_ssl(t)
  local ssl = t.ssl
  if ssl ~= nil then
    t.ssl = nil
    ffi.gc(ssl, nil)
    SSL.SSL_free(ssl) -- frees both BIOs
  end
end

-- ts:close([expires]) -> true. Sends close_notify (when the connection is
-- open and no other thread is sending) without waiting for the peer's;
-- expires bounds the send (default: the ts's timeout, else one attempt).
-- Every thread waiting on ts gets nil, 'closed', 'ECANCELED'.
function ts_methods:close(expires)
  if getmetatable(self) ~= ts_mt then errors.misuse('close', 'TLS socket expected (did you call it with . instead of :?)') end
  if self._closed then return true end
  args.expires(expires, 'close', 1)
  if not self.closing then
    self.closing = true
    if self.phase == OPEN and not self.err_code and not self.flushing and not self.wbusy
      and not self.sock:closed() then
      if not self.wshut then
        CR.ERR_clear_error()
        if SSL.SSL_shutdown(self.ssl) < 0 then CR.ERR_clear_error() end
        self.wshut = true
      end
      local dl = deadline(self, expires) or clock()
      self.flushing = true
      local ok = drain(self, dl)
      self.flushing = false
      if ok and not self._closed then cache_put(self) end
    end
  end
  if self._closed then return true end -- closed meanwhile by another thread
  self._closed = true
  wake_all(self, errors.closed())
  free_ssl(self)
  if not self.sock:closed() then self.sock:close() end
  give_back(self)
  return true
end

-- ts:shutdown(['w' | 'r' | 'rw']) -> true: 'w' sends close_notify (TLS 1.3
-- lets the peer go on sending; reads go on), then shuts the socket's
-- sending side; 'r' shuts the receiving side.
function ts_methods:shutdown(how)
  check(self, 'shutdown')
  how = how or 'rw'
  if how ~= 'r' and how ~= 'w' and how ~= 'rw' then errors.arg('shutdown', 1, 'how must be \'r\', \'w\' or \'rw\'') end
  if how ~= 'r' and not self.wshut and self.phase == OPEN and not self.err_code then
    if self.wbusy then errors.misuse('shutdown', 'another thread is already writing this socket') end
    self.wbusy = true
    CR.ERR_clear_error()
    if SSL.SSL_shutdown(self.ssl) < 0 then CR.ERR_clear_error() end
    self.wshut = true
    local ok, err, code = flush(self, deadline(self, nil), self.wwait)
    self.wbusy = false
    if not ok then return nil, err, code end
  end
  if self._closed then return errors.closed() end
  return self.sock:shutdown(how)
end

-- the rest of the stream-socket methods --------------------------------------------------

function ts_methods:closed()
  if getmetatable(self) ~= ts_mt then errors.misuse('closed', 'TLS socket expected (did you call it with . instead of :?)') end
  return self._closed
end

function ts_methods:settimeout(t)
  check(self, 'settimeout')
  if type(t) ~= 'nil' and (type(t) ~= 'number' or t ~= t or t < 0) then
    errors.arg('settimeout', 1, 'timeout must be a non-negative number of seconds or nil')
  end
  self._timeout = t
  return true
end
function ts_methods:gettimeout()
  if getmetatable(self) ~= ts_mt then
    errors.misuse('gettimeout', 'TLS socket expected (did you call it with . instead of :?)')
  end
  return self._timeout
end

-- Wakes every thread waiting on ts (in the socket or in the engine) with
-- nil, 'canceled', 'ECANCELED'; ts stays open. Returns how many.
function ts_methods:cancel()
  check(self, 'cancel')
  local n = 0
  if self.rwait.thread then wake(self.rwait, errors.canceled()); n = n + 1 end
  if self.wwait.thread then wake(self.wwait, errors.canceled()); n = n + 1 end
  return n + self.sock:cancel()
end

function ts_methods:fileno() check(self, 'fileno'); return self.sock:fileno() end
function ts_methods:getpeername() check(self, 'getpeername'); return self.sock:getpeername() end
function ts_methods:getsockname() check(self, 'getsockname'); return self.sock:getsockname() end

-- ts:wait('r' | 'w', [timeout]) -> true when a recv (send) would not wait
-- for the socket: 'r' is true at once when decrypted bytes are waiting.
function ts_methods:wait(dir, timeout)
  check(self, 'wait')
  if dir ~= 'r' and dir ~= 'w' then errors.arg('wait', 1, 'direction must be \'r\' or \'w\'') end
  args.seconds(timeout, 'wait', 2)
  if dir == 'r' and self.phase == OPEN and not self.err_code
    and (SSL.SSL_pending(self.ssl) > 0 or CR.s2tls_BIO_pending(self.rbio, BIO_PENDING, 0, nil) > 0) then
    return true
  end
  return self.sock:wait(dir, timeout)
end

-- TLS facts -----------------------------------------------------------------------

local function open_ssl(t, fname)
  check(t, fname)
  return t.phase == OPEN and t.ssl or nil
end

-- ts:alpn() -> the protocol both ends chose ('h2'), or nil
function ts_methods:alpn()
  local ssl = open_ssl(self, 'alpn')
  if not ssl then return nil end
  local pp, lp = ffi.new'const unsigned char*[1]', ffi.new'unsigned int[1]'
  SSL.SSL_get0_alpn_selected(ssl, pp, lp)
  if pp[0] == nil or lp[0] == 0 then return nil end
  return cstring(pp[0], lp[0])
end

-- ts:version() -> 'TLSv1.3', or nil before the handshake
function ts_methods:version()
  local ssl = open_ssl(self, 'version')
  return ssl and ffi.string(SSL.SSL_get_version(ssl)) or nil
end

-- ts:cipher() -> 'TLS_AES_256_GCM_SHA384', or nil
function ts_methods:cipher()
  local ssl = open_ssl(self, 'cipher')
  if not ssl then return nil end
  local c = SSL.SSL_get_current_cipher(ssl)
  return c ~= nil and ffi.string(SSL.SSL_CIPHER_get_name(c)) or nil
end

-- ts:servername() -> server: the name the client asked for (SNI); client:
-- the host it verifies. nil when none.
function ts_methods:servername()
  check(self, 'servername')
  if not self.server then return self.host end
  local ssl = open_ssl(self, 'servername')
  if not ssl then return nil end
  local p = SSL.SSL_get_servername(ssl, 0)
  return p ~= nil and cstring(p) or nil
end

function ts_methods:session_reused()
  local ssl = open_ssl(self, 'session_reused')
  return ssl ~= nil and SSL.SSL_session_reused(ssl) == 1
end

-- sessions: opaque objects, for callers that keep them themselves
local sess_methods = {}
local sess_mt = {__index = sess_methods, __tostring = function() return 'socket2.tls session' end}

local function new_session(p) return setmetatable({ptr = ffi.gc(p, SSL.SSL_SESSION_free)}, sess_mt) end

-- sess:resumable() -> can it resume a connection (once)?
function sess_methods:resumable()
  if getmetatable(self) ~= sess_mt then errors.misuse('resumable', 'TLS session expected') end
  return SSL.SSL_SESSION_is_resumable(self.ptr) == 1
end

-- sess:export() -> the session as DER bytes (secret: it resumes the session)
function sess_methods:export()
  if getmetatable(self) ~= sess_mt then errors.misuse('export', 'TLS session expected') end
  local n = SSL.i2d_SSL_SESSION(self.ptr, nil)
  if n <= 0 then return errors.fail('ETLSPROTO', ossl_error'cannot encode the session') end
  local b = buf_ct(n + 16) -- (+16: see lib.cstring)
  local pp = ffi.new('unsigned char*[1]', b)
  SSL.i2d_SSL_SESSION(self.ptr, pp)
  return ffi.string(b, n)
end

-- tls.session(der) -> a session exported before, or nil, msg, 'ETLSPROTO'
function M.session(der)
  if type(der) ~= 'string' then errors.arg('session', 1, 'string expected, got ' .. type(der)) end
  local pp = ffi.new('const unsigned char*[1]', ffi.cast(cu8p, der))
  local s = SSL.d2i_SSL_SESSION(nil, pp, #der)
  if s == nil then return errors.fail('ETLSPROTO', 'not a TLS session: ' .. (ossl_error'bad encoding')) end
  return new_session(s)
end

-- ts:session() -> the connection's session (to resume a later connection
-- with wrap{session = s}), or nil. TLS 1.3 servers send their tickets after
-- the handshake: a session taken before the first recv may not resume.
function ts_methods:session()
  local ssl = open_ssl(self, 'session')
  if not ssl then return nil end
  local s = SSL.SSL_get1_session(ssl)
  if s == nil then return nil end
  return new_session(s)
end

-- ts:verify_result() -> true, or false, msg, 'ETLSVERIFY', X509 code: what
-- verifying the peer's certificate gave (also with verify = false)
function ts_methods:verify_result()
  local ssl = open_ssl(self, 'verify_result')
  if not ssl then return false, 'handshake not done', 'ETLSVERIFY', -1 end
  local x = SSL.SSL_get1_peer_certificate(ssl)
  if x == nil then return false, 'no peer certificate', 'ETLSVERIFY', -1 end
  CR.X509_free(x)
  local v = tonumber(SSL.SSL_get_verify_result(ssl))
  if v == 0 then return true end
  return false, 'certificate verify failed: ' .. ffi.string(CR.X509_verify_cert_error_string(v)), 'ETLSVERIFY', v
end

-- certificate details
local namebuf = ffi.new'char[1024]'
local function name_of(n)
  if n == nil then return nil end
  CR.X509_NAME_oneline(n, namebuf, 1024)
  return ffi.string(namebuf)
end

local tm = ffi.new'int[16]' -- struct tm: sec, min, hour, mday, mon, year, ...
local function time_of(at)
  if at == nil or CR.ASN1_TIME_to_tm(at, tm) ~= 1 then return nil end
  -- days from the civil date (proleptic Gregorian), UTC
  local y, m, d = tm[5] + 1900, tm[4] + 1, tm[3]
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tm[2] * 3600 + tm[1] * 60 + tm[0]
end

local function ip_string(p, n)
  if n == 4 then return ('%d.%d.%d.%d'):format(p[0], p[1], p[2], p[3]) end
  if n == 16 then
    local t = {}
    for i = 0, 14, 2 do t[#t + 1] = ('%x'):format(p[i] * 256 + p[i + 1]) end
    local s = ':' .. table.concat(t, ':') .. ':'
    -- the longest run of zero groups becomes '::'
    local best, bl = nil, 0
    for run in s:gmatch':0:[0:]*' do if #run > bl then best, bl = run, #run end end
    if best and bl > 3 then s = s:gsub(best:gsub('%p', '%%%0'), '::', 1) end
    s = s:gsub('^:([^:])', '%1'):gsub('([^:]):$', '%1')
    return s
  end
  return nil
end

local function san_of(x)
  local names = {}
  local sk = CR.X509_get_ext_d2i(x, lib.NID_subject_alt_name, nil, nil)
  if sk == nil then return names end
  sk = ffi.cast('OPENSSL_STACK*', sk)
  for i = 0, CR.OPENSSL_sk_num(sk) - 1 do
    local g = ffi.cast('GENERAL_NAME*', CR.OPENSSL_sk_value(sk, i))
    local s = ffi.cast('ASN1_STRING*', g.d)
    local p, n = CR.ASN1_STRING_get0_data(s), CR.ASN1_STRING_length(s)
    if g.type == lib.GEN_DNS or g.type == lib.GEN_EMAIL or g.type == lib.GEN_URI then
      names[#names + 1] = cstring(p, n)
    elseif g.type == lib.GEN_IPADD then
      names[#names + 1] = ip_string(p, n)
    end
  end
  CR.GENERAL_NAMES_free(sk)
  return names
end

-- ts:peer_certificate() -> {subject, issuer, not_before, not_after (UTC
-- seconds since 1970), san = {names and IPs}, der}, or nil
function ts_methods:peer_certificate()
  local ssl = open_ssl(self, 'peer_certificate')
  if not ssl then return nil end
  local x = SSL.SSL_get1_peer_certificate(ssl)
  if x == nil then return nil end
  x = ffi.gc(x, CR.X509_free)
  local n = CR.i2d_X509(x, nil)
  local der
  if n > 0 then
    local b = buf_ct(n + 16) -- (+16: see lib.cstring)
    CR.i2d_X509(x, ffi.new('unsigned char*[1]', b))
    der = ffi.string(b, n)
  end
  local cert = {
    subject = name_of(CR.X509_get_subject_name(x)),
    issuer = name_of(CR.X509_get_issuer_name(x)),
    not_before = time_of(CR.X509_get0_notBefore(x)),
    not_after = time_of(CR.X509_get0_notAfter(x)),
    san = san_of(x),
    der = der,
  }
  CR.ERR_clear_error()
  return cert
end

-- making a ts ------------------------------------------------------------------------

local WRAP_OPTS = {host = 'string', alpn = 'table', session = 'table'}

local socket_mod
local function is_stream_socket(s)
  socket_mod = socket_mod or require'socket2.socket'
  if not socket_mod.is_socket(s) then return false end
  local kind = s:kind()
  return kind == 'tcp' or (kind == 'unix' and s:type() == 'stream')
end

local function wrap(s, ctx, opts, fname, any_transport)
  if not any_transport and not is_stream_socket(s) then errors.arg(fname, 1, 'stream socket expected') end
  if s:closed() then errors.misuse(fname, 'socket is closed') end
  if not context.is_ctx(ctx) then errors.arg(fname, 2, 'TLS context expected (tls.context{...})') end
  if type(opts) ~= 'nil' and type(opts) ~= 'table' then errors.arg(fname, 3, 'options table expected') end
  opts = opts or {}
  for k, v in pairs(opts) do
    local want = type(k) == 'string' and WRAP_OPTS[k]
    if not want then errors.arg(fname, 3, ('unknown option \'%s\''):format(tostring(k))) end
    if type(v) ~= want then errors.arg(fname, 3, ('option \'%s\' must be a %s'):format(k, want)) end
  end
  local host = opts.host
  if host then
    host = host:match'^%[(.*)%]$' or host
    if host == '' or host:find('\0', 1, true) then errors.arg(fname, 3, 'option \'host\' must be a host name') end
  end
  if opts.session and getmetatable(opts.session) ~= sess_mt then
    errors.arg(fname, 3, 'option \'session\' must be a session (ts:session(), tls.session())')
  end
  local alpn = opts.alpn
  if alpn then
    if #alpn == 0 then errors.arg(fname, 3, 'option \'alpn\' must be a non-empty list of names') end
    for i, p in pairs(alpn) do
      if type(i) ~= 'number' or type(p) ~= 'string' or #p == 0 or #p > 255 then
        errors.arg(fname, 3, 'option \'alpn\' must be a list of protocol names of 1..255 bytes')
      end
    end
  end
  if not ctx.server and ctx.verify and not host then
    errors.misuse(fname, 'host required for verification (opts.host), or a context with verify = false')
  end

  local raw = SSL.SSL_new(ctx.ptr)
  if raw == nil then return errors.fail('ENOMEM', ossl_error'SSL_new failed') end
  local ssl = ffi.gc(raw, SSL.SSL_free)
  local rbio, wbio = CR.BIO_new(CR.BIO_s_mem()), CR.BIO_new(CR.BIO_s_mem())
  if rbio == nil or wbio == nil then
    if rbio ~= nil then CR.BIO_free(rbio) end
    if wbio ~= nil then CR.BIO_free(wbio) end
    return errors.fail('ENOMEM', 'BIO_new failed')
  end
  CR.BIO_ctrl(rbio, BIO_EOF, -1, nil) -- empty: "retry", until the socket's EOF
  CR.BIO_ctrl(wbio, BIO_EOF, -1, nil)
  SSL.SSL_set_bio(ssl, rbio, wbio) -- the SSL owns them now

  local t = setmetatable({
    sock = s, ctx = ctx, ssl = ssl, rbio = rbio, wbio = wbio,
    server = ctx.server, host = host or false,
    phase = NEW, hs_running = false,
    _closed = false, closing = false,
    _timeout = s:gettimeout(),
    err_msg = false, err_code = false,
    eof = false, rclosed = false, wshut = false,
    rbusy = false, wbusy = false, flushing = false,
    inbuf = false, outbuf = false, outpos = 0, outlen = 0,
    rwait = sched.new_rec(), wwait = sched.new_rec(),
    cache_key = false,
  }, ts_mt)
  -- the ts owns the socket: its timeout moves to the ts, and the engine
  -- passes each call's deadline down itself
  s:settimeout(nil)

  if ctx.server then
    SSL.SSL_set_accept_state(ssl)
  else
    SSL.SSL_set_connect_state(ssl)
    if host then
      if is_ip(host) then
        -- no SNI for an address (RFC 6066); the certificate must name the IP
        if CR.X509_VERIFY_PARAM_set1_ip_asc(SSL.SSL_get0_param(ssl), host) ~= 1 then
          CR.ERR_clear_error()
          errors.arg(fname, 3, 'option \'host\' is not a valid IP address: ' .. host)
        end
      else
        SSL.SSL_ctrl(ssl, lib.CTRL_SET_TLSEXT_HOSTNAME, 0, ffi.cast('void*', host))
        SSL.SSL_set1_host(ssl, host)
      end
    end
    if alpn then
      local w = {}
      for i, p in ipairs(alpn) do w[i] = string.char(#p) .. p end
      w = table.concat(w)
      SSL.SSL_set_alpn_protos(ssl, w, #w)
    end
    local sess = opts.session and opts.session.ptr
    if not sess and host and ctx.cache_max > 0 then
      local peer = s:getpeername()
      if peer then
        local key = host .. ':' .. tostring(peer:port())
        local a = alpn or ctx.alpn
        if a then key = key .. ':' .. table.concat(a, ',') end
        t.cache_key = key
        local cached = cache_take(ctx, key)
        if cached then
          SSL.SSL_set_session(ssl, cached)
          SSL.SSL_SESSION_free(cached)
        end
      end
    elseif sess then
      SSL.SSL_set_session(ssl, sess)
    end
  end
  CR.ERR_clear_error()
  return t
end

-- tls.wrap(s, ctx, [{host=, alpn=, session=}]) -> ts (no I/O yet): s, a
-- connected stream socket, now belongs to ts (close ts, not s).
function M.wrap(s, ctx, opts) return wrap(s, ctx, opts, 'wrap') end

local default_client
-- tls.connect(host, port, [ctx], [expires]) -> a connected, verified ts.
-- ctx nil: a client context with the defaults (verify against the system's
-- CA store and host). expires bounds the connect and the handshake.
function M.connect(host, port, ctx, expires)
  if type(host) ~= 'string' then errors.arg('connect', 1, 'host must be a string, got ' .. type(host)) end
  if type(ctx) ~= 'nil' and not context.is_ctx(ctx) then errors.arg('connect', 3, 'TLS context expected (tls.context{...})') end
  if type(ctx) == 'nil' then ctx = nil end
  if ctx and ctx.server then errors.arg('connect', 3, 'a client context expected') end
  args.expires(expires, 'connect', 4)
  if not ctx then
    if not default_client then
      local c, err, code = M.context()
      if not c then return nil, err, code end
      default_client = c
    end
    ctx = default_client
  end
  socket_mod = socket_mod or require'socket2.socket'
  local s, err, code = socket_mod.connect(host, port, expires)
  if not s then return nil, err, code end
  local t = wrap(s, ctx, {host = host}, 'connect')
  local ok
  ok, err, code = t:handshake(expires)
  if not ok then t:close(clock()); return nil, err, code end
  return t
end

-- tls.starttls(st, ctx, [opts], [expires]) -> ts: upgrades the plaintext
-- stream st (socket.stream) to TLS. What st buffered but did not hand out
-- yet is the peer's first ciphertext (a client pipelines its ClientHello
-- after "STARTTLS"), never plaintext; what was written is flushed first.
-- From then on st reads and writes through ts (st.socket).
function M.starttls(st, ctx, opts, expires)
  if type(st) ~= 'table' or type(st.nbuffered) ~= 'function' or type(st.read) ~= 'function' then
    errors.arg('starttls', 1, 'stream expected (socket.stream(s))')
  end
  args.expires(expires, 'starttls', 4)
  if getmetatable(st.socket) == ts_mt then errors.misuse('starttls', 'the stream is already TLS') end
  if not context.is_ctx(ctx) then errors.arg('starttls', 2, 'TLS context expected (tls.context{...})') end
  local ok, err, code = st:flush(expires)
  if not ok then return nil, err, code end
  local pre = st:nbuffered() > 0 and st:read(st:nbuffered()) or nil
  local t = wrap(st.socket, ctx, opts, 'starttls')
  if pre then CR.BIO_write(t.rbio, pre, #pre) end
  st.socket = t
  ok, err, code = t:handshake(expires)
  if not ok then return nil, err, code end
  return t
end

-- For tests and fuzzing only: the engine over any object with a stream
-- socket's recv/sendall/settimeout/gettimeout/getpeername/cancel/closed/close.
function M._engine(transport, ctx, opts) return wrap(transport, ctx, opts, '_engine', true) end

M.is_tls = function(v) return getmetatable(v) == ts_mt end
M.methods = ts_methods
M.session_methods = sess_methods

return M
