-- spec/reliability/dns/lookup_check.lua: run by spec/reliability/resolver_spec.lua inside a private
-- network + mount namespace whose /etc/resolv.conf points at 127.0.0.1. It
-- starts a tiny DNS server on 127.0.0.1:53 (a socket2 thread) and checks
-- that name lookups go through it without stalling the loop. Prints one
-- line per check: "check NAME ok" or "check NAME fail: why".
local socket = require'socket2'
local ffi = require'ffi'

-- the zone: name -> IPv4 bytes; 'hang' never answers
local ZONE = {['test1.socket2.test'] = {10, 1, 2, 3}, ['other.socket2.test'] = {10, 9, 8, 7}}
local HANG = 'hang.socket2.test'

local function u16(s, i) return s:byte(i) * 256 + s:byte(i + 1) end

local function parse_query(q)
  local labels, i = {}, 13
  while true do
    local n = q:byte(i)
    if not n or n == 0 then break end
    labels[#labels + 1] = q:sub(i + 1, i + n)
    i = i + n + 1
  end
  return table.concat(labels, '.'):lower(), u16(q, i + 1), q:sub(13, i + 4)
end

local function answer(q)
  local name, qtype, question = parse_query(q)
  if name == HANG then return nil end
  local ip = ZONE[name]
  local rcode = ip and 0 or 3 -- NXDOMAIN
  local an = (ip and qtype == 1) and 1 or 0
  local h = q:sub(1, 2) .. string.char(0x81, 0x80 + rcode, 0, 1, 0, an, 0, 0, 0, 0)
  local rr = ''
  if an == 1 then
    rr = string.char(0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ip[1], ip[2], ip[3], ip[4])
  end
  return h .. question .. rr
end

local queries = 0
local server = assert(socket.udp())
assert(server:bind('127.0.0.1', 53))
socket.newthread(function()
  local buf, from = ffi.new'uint8_t[512]', socket.sockaddr('0.0.0.0', 0)
  while true do
    local n = server:recvfrom(buf, 512, from)
    if not n then break end
    queries = queries + 1
    local r = answer(ffi.string(buf, n))
    if r then server:send(r, #r, from) end
  end
end)

local function check(name, ok, why)
  print(('check %s %s'):format(name, ok and 'ok' or ('fail: ' .. tostring(why))))
end

socket.run(function()
  local ai, err, code = socket.addr('test1.socket2.test', 80, 'tcp', 'inet')
  check('resolves', ai and ai:tostring() == '10.1.2.3:80', ai and ai:tostring() or (tostring(err) .. ' ' .. tostring(code)))
  check('asked_our_server', queries > 0, queries)

  ai, err, code = socket.addr('nx.socket2.test', 80, 'tcp', 'inet')
  check('nxdomain', ai == nil and code == 'EAI_NONAME', tostring(err) .. ' ' .. tostring(code))

  -- a hanging lookup times out on its own deadline while other threads run
  local ticks, ticking = 0, true
  socket.newthread(function()
    while ticking do socket.sleep(0.01); ticks = ticks + 1 end
  end)
  local t0 = socket.clock()
  ai, err, code = socket.addr(HANG, 80, 'tcp', 'inet', nil, nil, socket.clock() + 0.3)
  local dt = socket.clock() - t0
  ticking = false
  check('hang_times_out', ai == nil and err == 'timeout' and code == 'ETIMEDOUT', tostring(err) .. ' ' .. tostring(code))
  check('hang_deadline_kept', dt >= 0.25 and dt < 2, dt)
  check('loop_not_stalled', ticks >= 10, ticks)

  -- two lookups at once (one hangs) do not serialise
  local done = 0
  socket.newthread(function()
    socket.addr(HANG, 80, 'tcp', 'inet', nil, nil, socket.clock() + 0.5)
    done = done + 1
  end)
  t0 = socket.clock()
  ai = socket.addr('other.socket2.test', 80, 'tcp', 'inet')
  check('parallel_lookup', ai and ai:tostring() == '10.9.8.7:80' and socket.clock() - t0 < 0.4,
    ai and ai:tostring())
  while done == 0 do socket.sleep(0.02) end

  -- connect() resolves names the same way (10.1.2.3 is unreachable here)
  local c = assert(socket.tcp())
  local ok, cerr, ccode = c:connect('test1.socket2.test', 80, socket.clock() + 2)
  c:close()
  check('connect_resolves', ok == nil and (ccode == 'ENETUNREACH' or ccode == 'EHOSTUNREACH'),
    tostring(cerr) .. ' ' .. tostring(ccode))
  server:close()
end)
