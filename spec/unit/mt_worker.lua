-- spec/unit/mt_worker.lua: one OS thread of the multi-thread test (thread_spec):
-- run in its own Lua state by socket2.thread, sharing the main state's
-- kernel object. It serves echo connections on its own listener and makes
-- nconns client connections to the next thread's listener, so both ends of
-- every connection live in different states while all their events flow
-- through one kernel object. Every byte is checked on arrival: a payload
-- byte is a function of (thread, connection, offset), and each header
-- names the thread the server must be hearing from.
--
-- Modes (by connection number): 'n' full echo; 'a' the client resets the
-- connection halfway through its upload; 's' the server resets it halfway.
-- Both leave events in flight for sockets that are closed under them.
local M = {}

local PAT = 251 -- payload byte k of a connection with base b: (b + k) % PAT

function M.mode(c)
  if c % 10 == 3 then return 'a' elseif c % 10 == 7 then return 's' end
  return 'n'
end

function M.size(t, c) return 1 + (c * 7919 + t * 104729) % 32768 end
function M.base(t, c) return (t * 131 + c * 31) % PAT end

-- h: the kernel object to share; me: 1..nthreads; ctl_port: the main
-- state's control listener. Returns a table of counts (as a string).
function M.run(h, me, nthreads, nconns, ctl_port, share_name)
  local ffi = require'ffi'
  local socket = require'socket2'
  socket[share_name](h) -- before any other socket2 call
  local C = ffi.C
  pcall(ffi.cdef, 'int memcmp(const void *a, const void *b, size_t n);')

  local MAXLEN = 32768
  local pat = ffi.new('uint8_t[?]', MAXLEN + PAT)
  for i = 0, MAXLEN + PAT - 1 do pat[i] = i % PAT end

  local st = {served = 0, srv_aborted = 0, client_ok = 0, client_aborted = 0,
              bad = 0, bytes = 0, wrong_thread = 0, errors = 0}
  local firsterr
  local function bad(what)
    st.bad = st.bad + 1
    firsterr = firsterr or what
  end
  local function err(what)
    st.errors = st.errors + 1
    firsterr = firsterr or what
  end
  local TIMEOUT = 60 -- only so that a bug fails the test instead of hanging it

  local ctl = assert(socket.tcp())
  ctl:settimeout(TIMEOUT)
  assert(ctl:connect('127.0.0.1', ctl_port))
  local cst = socket.stream(ctl)
  local srv = assert(socket.tcp())
  assert(srv:listen('127.0.0.1', 0))
  cst:write(('port %d %d\n'):format(me, srv:getsockname():port()))
  local go = assert(cst:readline())
  local ports = {}
  for p in go:gmatch'%d+' do ports[#ports + 1] = tonumber(p) end
  local target = ports[me % nthreads + 1]
  local from = (me - 2) % nthreads + 1 -- whose clients our listener gets

  -- server side ----------------------------------------------------------------
  local function serve(c)
    c:settimeout(TIMEOUT)
    local s = socket.stream(c)
    local hdr, e = s:readline()
    if not hdr then err('server header: ' .. tostring(e)); c:close(); return end
    local t, cn, len = hdr:match'^T(%d+) C(%d+) L(%d+)$'
    t, cn, len = tonumber(t), tonumber(cn), tonumber(len)
    if not t then bad('header ' .. hdr); c:close(); return end
    if t ~= from then st.wrong_thread = st.wrong_thread + 1 end
    local mode, base = M.mode(cn), M.base(t, cn)
    local stop_at = mode == 's' and math.floor(len / 2) or len
    local got = 0
    while got < stop_at do
      local data = s:readany(math.min(8192, stop_at - got))
      if not data then break end
      local n = #data
      if C.memcmp(data, pat + base + got, n) ~= 0 then bad(('payload T%d C%d at %d'):format(t, cn, got)) end
      got = got + n
      st.bytes = st.bytes + n
      if not c:sendall(data) then break end
    end
    if mode == 's' then
      c:setopt('linger', 0)
      st.srv_aborted = st.srv_aborted + 1
    elseif got == len then
      st.served = st.served + 1
    elseif mode ~= 'a' then
      err(('server T%d C%d got %d of %d'):format(t, cn, got, len))
    end
    c:close()
  end

  socket.newthread(function()
    while true do
      local c = srv:accept()
      if not c then break end
      socket.newthread(serve, c)
    end
  end)

  -- client side ------------------------------------------------------------------
  local function client(cn)
    local c = assert(socket.tcp())
    c:settimeout(TIMEOUT)
    local ok, e = c:connect('127.0.0.1', target)
    if not ok then err('connect: ' .. tostring(e)); c:close(); return end
    local len, base, mode = M.size(me, cn), M.base(me, cn), M.mode(cn)
    local send_len = mode == 'a' and math.floor(len / 2) or len
    local sent_ok = true
    -- a second thread writes while this one reads: echo needs both at once
    local writer_done, reader = false, nil
    socket.newthread(function()
      sent_ok = c:sendall(('T%d C%d L%d\n'):format(me, cn, len)) and c:sendall(pat + base, send_len)
      if mode == 'a' then
        c:setopt('linger', 0)
        c:close() -- resets it under the reader, who wakes with 'closed'
      end
      writer_done = true
      if reader then socket.resume(reader) end
    end)
    local buf = ffi.new('uint8_t[?]', 8192)
    local got = 0
    while got < len and not c:closed() do
      local n = c:recv(buf, math.min(8192, len - got))
      if not n or n == 0 then break end
      if C.memcmp(buf, pat + base + got, n) ~= 0 then bad(('echo T%d C%d at %d'):format(me, cn, got)) end
      got = got + n
    end
    if mode == 'n' then
      if got == len and sent_ok then st.client_ok = st.client_ok + 1
      else err(('client C%d got %d of %d'):format(cn, got, len)) end
    else
      st.client_aborted = st.client_aborted + 1
    end
    if not writer_done then
      reader = socket.currentthread()
      socket.suspend()
    end
    c:close()
  end

  -- 25 workers, each making nconns/25 connections one after another, keep
  -- at most 50 sockets per thread open at once
  local workers = math.min(25, nconns)
  local left = workers
  for w = 1, workers do
    socket.newthread(function()
      for cn = w, nconns, workers do client(cn) end
      left = left - 1
      if left == 0 then cst:write'done\n'; cst:flush() end
    end)
  end

  socket.newthread(function()
    local line = cst:readline()
    if line ~= 'stop' then err('control: ' .. tostring(line)) end
    srv:close()
    ctl:close()
  end)

  socket.start()
  local out = {}
  for k, v in pairs(st) do out[#out + 1] = k .. '=' .. v end
  if firsterr then out[#out + 1] = 'first=' .. firsterr:gsub('[ =,]', '_') end
  return table.concat(out, ',')
end

return M
