-- fuzz/lua_targets.lua: the Lua fuzz targets run by fuzz/fuzz_lua.c (and,
-- without libFuzzer, by spec/reliability/fuzz_corpus_spec.lua over the corpus). Each target takes
-- one input string and raises an error when socket2 misbehaves.
--   stream: socket2.stream over a fake socket that hands out the payload in
--           chunks the input chooses (and times out when it says so);
--           readline/readuntil/read/readany/buffered/write/flush are
--           checked against a plain-string model of the same data.
--   addr:   socket.sockaddr(ip | path [, port]), sa methods on addresses
--           made of raw bytes with any length, getnameinfo, and numeric
--           socket.addr / socket.getaddrinfo (AI_NUMERICHOST: never DNS).
local here = debug.getinfo(1, 'S').source:match'^@(.*)fuzz/lua_targets%.lua$' or './'
package.path = here .. 'lua/?.lua;' .. package.path
package.cpath = here .. '?.so;' .. package.cpath

local ffi = require'ffi'
local socket = require'socket2'

-- coverage for libFuzzer: every (previous line, line) edge bumps a counter
-- luacheck: globals S2FUZZ_COUNTERS S2FUZZ_NCOUNTERS
if S2FUZZ_COUNTERS then
  local counters = ffi.cast('uint8_t*', S2FUZZ_COUNTERS)
  local mask, band = S2FUZZ_NCOUNTERS - 1, require'bit'.band
  local prev = 0
  debug.sethook(function(_, line)
    local i = band(prev * 7919 + line, mask)
    counters[i] = counters[i] + 1
    prev = line
  end, 'l')
end

local function fail(fmt, ...) error(fmt:format(...), 2) end
local function q(s) return s == nil and 'nil' or ('%q'):format(tostring(s)):sub(1, 200) end

-- stream ----------------------------------------------------------------------

local SIZES = {1, 2, 3, 7, 16, 64, 4096, 16384}
local MAXLENS = {0, 1, 2, 3, 5, 8, 100, 1024 * 1024}
local DELIMS = {'\n', '\r\n', 'ab', 'aba', '\0', 'xyzzy', '\n\n', 'a'}

local fake = {}
fake.__index = fake

function fake:recv(buf, len)
  self.calls = self.calls + 1
  local st = self.stream
  -- the buffer handed to recv must lie inside the stream's own buffer
  local base = ffi.cast('uintptr_t', st.buf)
  local p = ffi.cast('uintptr_t', buf)
  if not (len >= 1 and p >= base and p + len <= base + st.size) then
    fail('recv into [%s, +%d) outside the stream buffer [%s, +%d)', tostring(p), len, tostring(base), st.size)
  end
  if self.timeout_every and self.calls % self.timeout_every == 0 then
    return nil, 'timeout', 'ETIMEDOUT'
  end
  local left = #self.data - self.pos + 1
  if left <= 0 then return 0 end
  self.seed = (self.seed * 1103515245 + 12345) % 2147483648
  local chunk = self.big and 1 + self.seed % 5000 or 1 + self.seed % 9
  local n = math.min(len, chunk, left)
  ffi.copy(buf, ffi.cast('const char*', self.data) + self.pos - 1, n)
  self.pos = self.pos + n
  return n
end
function fake:sendall(s) self.out[#self.out + 1] = s; return #s end
function fake:closed() return self._closed end
function fake:close() self._closed = true; return true end
function fake:settimeout() return true end
function fake:gettimeout() return nil end

-- the model of readline (see socket2/stream.lua): result, bytes consumed
local function model_readline(rem, keep, maxlen)
  local i = rem:find('\n', 1, true)
  if i then
    local n = i - 1
    local cut = (n > 0 and rem:byte(n) == 13) and 1 or 0
    if n - cut > maxlen then return nil, 'EMSGSIZE' end
    if keep then return rem:sub(1, i), i end
    return rem:sub(1, n - cut), i
  end
  local avail = #rem
  if avail > maxlen and not (avail == maxlen + 1 and rem:byte(maxlen + 1) == 13) then return nil, 'EMSGSIZE' end
  return nil, 'EOF'
end

local function model_readuntil(rem, delim, maxlen)
  local i = rem:find(delim, 1, true)
  if i then
    if i - 1 > maxlen then return nil, 'EMSGSIZE' end
    return rem:sub(1, i - 1), i - 1 + #delim
  end
  if #rem > maxlen + #delim then return nil, 'EMSGSIZE' end
  return nil, 'EOF'
end

-- Compares a stream read (r1, r2, r3; a timeout proves nothing) with the
-- model's answer (m, used: the value and the bytes it consumed, or nil and
-- the error code); returns the model's new read position.
local function check_model(what, mpos, r1, r2, r3, m, used)
  if r3 == 'ETIMEDOUT' then return mpos end
  if m then
    if r1 ~= m then fail('%s: got %s, model %s', what, q(r1), q(m)) end
    return mpos + used
  end
  if r1 ~= nil or r3 ~= used then
    fail('%s: got %s %s %s, model fails with %s', what, q(r1), q(r2), q(r3), used)
  end
  return mpos
end

local function stream_target(input)
  if #input < 2 then return end
  local ncmd = input:byte(1) % 24 + 1
  local b2 = input:byte(2)
  local cmds = input:sub(3, 2 + 4 * ncmd)
  local data = input:sub(3 + 4 * ncmd)
  local sock = setmetatable({data = data, pos = 1, calls = 0, out = {}, seed = b2 + ncmd,
    big = b2 % 16 >= 12, timeout_every = b2 >= 160 and (b2 % 5 + 2) or nil}, fake)
  local st = socket.stream(sock, SIZES[b2 % 8 + 1])
  sock.stream = st
  local mpos = 1 -- the model: next byte the reader has not consumed
  local written = {}
  for c = 1, #cmds - 3, 4 do
    local op, a, b, cc = cmds:byte(c, c + 3)
    local rem = data:sub(mpos)
    local r1, r2, r3
    local what
    op = op % 8
    if op == 0 then
      local keep, maxlen = a % 2 == 1, MAXLENS[b % 8 + 1]
      what = ('readline(%s, %d)'):format(tostring(keep), maxlen)
      r1, r2, r3 = st:readline(keep, maxlen)
      mpos = check_model(what, mpos, r1, r2, r3, model_readline(rem, keep, maxlen))
    elseif op == 1 then
      local delim = a % 2 == 0 and DELIMS[b % #DELIMS + 1] or string.char(b, cc, a):sub(1, a % 3 + 1)
      local maxlen = MAXLENS[cc % 8 + 1]
      what = ('readuntil(%s, %d)'):format(q(delim), maxlen)
      r1, r2, r3 = st:readuntil(delim, maxlen)
      mpos = check_model(what, mpos, r1, r2, r3, model_readuntil(rem, delim, maxlen))
    elseif op == 2 then
      local n = a % 2 == 0 and b % 40 or b * 64 + cc
      what = ('read(%d)'):format(n)
      local _; r1, _, r3 = st:read(n)
      if r3 ~= 'ETIMEDOUT' then
        if #rem >= n then
          if r1 ~= rem:sub(1, n) then fail('%s: got %s, model %s', what, q(r1), q(rem:sub(1, n))) end
          mpos = mpos + n
        elseif r1 ~= nil or r3 ~= 'EOF' then
          fail('%s: got %s %s, model: EOF', what, q(r1), q(r3))
        end
      end
    elseif op == 3 then
      local max = b % 20
      what = ('readany(%d)'):format(max)
      r1, r2, r3 = st:readany(max)
      if r3 ~= 'ETIMEDOUT' then
        if #rem == 0 and max > 0 then
          if r1 ~= nil or r3 ~= 'EOF' then fail('%s at the end: got %s %s', what, q(r1), q(r3)) end
        elseif r1 == nil then
          if #rem > 0 then fail('%s: %s %s with %d bytes left', what, q(r2), q(r3), #rem) end
        else
          if #r1 > max or r1 ~= rem:sub(1, #r1) or (max > 0 and #r1 == 0) then
            fail('%s: got %s, data %s', what, q(r1), q(rem:sub(1, 40)))
          end
          mpos = mpos + #r1
        end
      end
    elseif op == 4 then
      local buffered = st:buffered()
      if buffered ~= rem:sub(1, #buffered) or #buffered ~= st:nbuffered() then
        fail('buffered() %s is not the next data %s', q(buffered), q(rem:sub(1, 40)))
      end
    elseif op == 5 then
      local s = string.char(a, b, cc):rep(cc % 9)
      assert(st:write(s, a))
      written[#written + 1] = s .. tostring(a)
      if b % 2 == 0 then assert(st:flush()) end
    elseif op == 6 then
      local t = st:nwritten()
      local want = #table.concat(written) - #table.concat(sock.out)
      if t ~= want then fail('nwritten() = %d, expected %d', t, want) end
    else
      -- a read with a deadline in the past: nothing is lost either way
      r1 = st:readline(false, 64, socket.clock() - 1)
      if r1 then
        local m, used = model_readline(rem, false, 64)
        if r1 ~= m then fail('readline(past deadline): got %s, model %s', q(r1), q(m)) end
        mpos = mpos + used
      end
    end
  end
  assert(st:close())
  local out, want = table.concat(sock.out), table.concat(written)
  if out ~= want then fail('written %s, sent %s', q(want), q(out)) end
end

-- addr ------------------------------------------------------------------------

-- the OS's own inet_pton and family numbers (socket2.os declares them: libc,
-- or ws2_32 on Windows, where AF_INET6 is 23)
local sys = require'socket2.os'
local inet_pton = sys.C.inet_pton
local AF_INET, AF_INET6, AF_UNIX = sys.AF.inet, sys.AF.inet6, sys.AF.unix
local NI_NUMERIC = sys.NI.numerichost + sys.NI.numericserv
local pton_out = ffi.new'uint8_t[16]'
local sa_ct = require'socket2.addr'.sa_ct

local function lua_error_of(f, ...)
  local r = {pcall(f, ...)}
  if r[1] then return nil, r end
  return r[2]
end

local function check_sa(sa, where)
  local ok, err = pcall(function()
    local fam = sa:family()
    local s = sa:tostring()
    local ip, port = sa:ip(), sa:port()
    assert(type(s) == 'string')
    if fam == 'unix' then
      assert(#ip <= 108, 'unix path of ' .. #ip .. ' bytes from a 108-byte sun_path')
      assert(port == nil)
    elseif fam == 'inet' or fam == 'inet6' then
      assert(type(ip) == 'string' and type(port) == 'number' and port >= 0 and port <= 65535)
    end
  end)
  if not ok then fail('%s: sa methods: %s', where, tostring(err)) end
end

local function addr_target(input)
  if #input < 1 then return end
  local mode = input:byte(1) % 6
  local s = input:sub(2)
  if mode == 0 then
    local err, r = lua_error_of(socket.sockaddr, s)
    if err then
      if not tostring(err):find("'sockaddr'", 1, true) then fail('sockaddr(%s) raised %s', q(s), q(err)) end
      return
    end
    local sa = r[2]
    if not sa then
      if type(r[3]) ~= 'string' or type(r[4]) ~= 'string' then fail('sockaddr(%s): %s %s', q(s), q(r[3]), q(r[4])) end
      return
    end
    check_sa(sa, 'sockaddr(' .. q(s) .. ')')
    local fam = sa:family()
    if fam == 'inet' then
      if inet_pton(AF_INET, s, pton_out) ~= 1 then fail('sockaddr(%s) is inet, inet_pton says no', q(s)) end
      if socket.sockaddr(sa:ip(), 0) ~= sa then fail('sockaddr(%s): ip() %s does not round-trip', q(s), q(sa:ip())) end
    elseif fam == 'inet6' then
      local plain = s:match'^([^%%]*)'
      if inet_pton(AF_INET6, plain, pton_out) ~= 1 then fail('sockaddr(%s) is inet6, inet_pton says no', q(s)) end
      local again = socket.sockaddr(sa:ip(), 0)
      if not again or ffi.string(again:addr().sin6_addr, 16) ~= ffi.string(sa:addr().sin6_addr, 16) then
        fail('sockaddr(%s): ip() %s does not round-trip', q(s), q(sa:ip()))
      end
    elseif fam == 'unix' then
      if #s > 108 or sa:ip() ~= s then fail('sockaddr(%s): unix path came back as %s', q(s), q(sa:ip())) end
    else
      fail('sockaddr(%s): family %s', q(s), q(fam))
    end
  elseif mode == 1 then
    local ip, port = s:match'^([^|]*)|(.*)$'
    if not ip then ip, port = s, s end
    local err, r = lua_error_of(socket.sockaddr, ip, port)
    if err then
      if not tostring(err):find("'sockaddr'", 1, true) then fail('sockaddr(%s, %s) raised %s', q(ip), q(port), q(err)) end
      return
    end
    local sa = r[2]
    if sa then
      check_sa(sa, 'sockaddr(ip, port)')
      local n = tonumber(port)
      if sa:port() ~= n then fail('sockaddr(%s, %s): port %s', q(ip), q(port), q(sa:port())) end
      if not port:find'^%d+$' then fail('sockaddr(%s, %s): took a port that is not digits', q(ip), q(port)) end
    end
  elseif mode == 2 or mode == 3 then
    -- an address made of raw bytes with any length (as from a foreign OS call)
    if #s < 2 then return end
    local sa = sa_ct()
    local body = s:sub(3, 2 + ffi.sizeof(sa.ss))
    ffi.copy(sa, body, #body)
    sa.len = s:byte(1) * 256 + s:byte(2)
    -- families the code knows, more often than chance would give
    local fsel = s:byte(2) % 4
    if fsel == 1 then ffi.cast('uint16_t*', sa)[0] = AF_INET
    elseif fsel == 2 then ffi.cast('uint16_t*', sa)[0] = AF_INET6
    elseif fsel == 3 then ffi.cast('uint16_t*', sa)[0] = AF_UNIX end
    check_sa(sa, 'raw sa')
    if mode == 3 then
      local ok, err = pcall(socket.getnameinfo, sa, NI_NUMERIC)
      if not ok then fail('getnameinfo raised %s', q(err)) end
    end
  elseif mode == 4 or mode == 5 then
    local host, port = s:match'^([^|]*)|(.*)$'
    if not host then host, port = s, '80' end
    local f = mode == 4
      and function() return socket.addr(host, port, 'tcp', 'unspec', nil, {'numerichost', 'numericserv'}) end
      or function() return socket.getaddrinfo(host, port, nil, nil, nil, {'numerichost', 'numericserv'}) end
    local err, r = lua_error_of(f)
    local name = mode == 4 and "'addr'" or "'getaddrinfo'"
    if err then
      if not tostring(err):find(name, 1, true) then fail('%s(%s, %s) raised %s', name, q(host), q(port), q(err)) end
      return
    end
    if not r[2] and (type(r[3]) ~= 'string' or type(r[4]) ~= 'string') then
      fail('%s(%s, %s): %s %s', name, q(host), q(port), q(r[3]), q(r[4]))
    end
    if r[2] and mode == 4 then
      for a in r[2]:addrs() do check_sa(a:sockaddr(), 'addr() entry') end
      r[2]:free()
    end
  end
  local st = socket.stats()
  if st.slots ~= 0 or st.waiting ~= 0 or st.timers ~= 0 then
    fail('left behind: %d slots, %d waiting, %d timers', st.slots, st.waiting, st.timers)
  end
end

-- socket2.tls (issue 14): fuzz/tls_target.lua
local tls_target = dofile(here .. 'fuzz/tls_target.lua')

return {stream = stream_target, addr = addr_target, tls = tls_target}
