-- spec/reliability/netfault/client.lua: run by spec/reliability/netfault_spec.lua inside the client
-- network namespace, linked by a veth pair to the server namespace where
-- spec/reliability/netfault/server.lua runs. It makes the faults itself (nft rules in
-- either namespace, routes, a tbf qdisc on its veth) and prints one line per
-- check: "check NAME ok" or "check NAME fail: why".
-- Environment: S2NF_SERVER_NS (the server's namespace), S2NF_DEV (our veth).
local socket = require'socket2'
local ffi = require'ffi'
local clock = socket.clock

local SERVER = '10.77.0.2'
local SERVER_NS = assert(os.getenv'S2NF_SERVER_NS', 'S2NF_SERVER_NS not set')
local DEV = os.getenv'S2NF_DEV' or 'vc'

local function check(name, ok, why)
  print(('check %s %s'):format(name, ok and 'ok' or ('fail: ' .. tostring(why):gsub('\n', ' | '))))
  io.stdout:flush()
end

-- Runs a shell command; true when it exited with 0 (its output otherwise).
local function sh(cmd)
  local p = assert(io.popen(cmd .. ' 2>&1; echo "exit status $?"'))
  local out = p:read'*a'
  p:close()
  if out:match'exit status (%d+)\n$' == '0' then return true end
  return false, out
end

-- nft rules loaded in our namespace, or in the server's
local function nft_in(prefix, rules)
  local path = os.tmpname()
  local f = assert(io.open(path, 'w'))
  f:write(rules, '\n')
  f:close()
  local ok, out = sh(prefix .. 'nft -f ' .. path)
  os.remove(path)
  if not ok then error('nft: ' .. out, 2) end
end
local function nft(rules) nft_in('', rules) end
local function server_nft(rules) nft_in('ip netns exec ' .. SERVER_NS .. ' ', rules) end
local function flush_rules()
  sh('nft flush ruleset')
  sh('ip netns exec ' .. SERVER_NS .. ' nft flush ruleset')
end
-- 100% loss between us and the server: everything we send is dropped
local function loss_on()
  nft('table inet loss {\n chain out {\n type filter hook output priority 0;\n ip daddr ' .. SERVER .. ' drop\n }\n}')
end
local function loss_off() sh('nft delete table inet loss') end

-- What a call returned, printable.
local function show(...)
  local t = {}
  for i = 1, select('#', ...) do t[i] = tostring((select(i, ...))) end
  return table.concat(t, ', ')
end

-- Runs one check: f returns ok, why; an error is a failure too.
local function run(name, f)
  local ok, res, why = xpcall(f, debug.traceback)
  if not ok then res, why = false, res end
  flush_rules()
  check(name, res, why)
  local st = socket.stats()
  if st.waiting ~= 0 or st.timers ~= 0 then
    check(name .. '_no_leftovers', false, ('%d waiting, %d timers'):format(st.waiting, st.timers))
  end
end

local function within(t, lo, hi) return t >= lo and t <= hi end

-- The server may still be starting: retry for a while.
local function connect_echo(port)
  local t0 = clock()
  while true do
    local s = assert(socket.tcp())
    local ok, err, code = s:connect(SERVER, port or 7000, clock() + 2)
    if ok then return s end
    s:close()
    if clock() - t0 > 10 then error('cannot reach the server: ' .. show(err, code)) end
    socket.sleep(0.05)
  end
end

local function echo_once(s, msg, expires)
  assert(s:sendall(msg))
  local buf = ffi.new('uint8_t[?]', #msg)
  local n, err, code = s:recvall(buf, #msg, expires or clock() + 5)
  if not n then return nil, err, code end
  return ffi.string(buf, #msg)
end

socket.run(function()
  -- the path works at all
  run('reachable', function()
    local s = connect_echo()
    local got = echo_once(s, 'hello')
    s:close()
    return got == 'hello', 'echo: ' .. tostring(got)
  end)

  -- a silent peer: its host drops our SYNs without a word
  run('silent_peer_connect_timeout', function()
    local s = assert(socket.tcp())
    local r = {s:connect(SERVER, 7002, clock() + 5)}
    if r[3] ~= 'ECONNREFUSED' then return false, 'without the rule: ' .. show(unpack(r)) end
    s:close()
    server_nft('table inet silent {\n chain in {\n type filter hook input priority 0;\n tcp dport 7002 drop\n }\n}')
    local slots = socket.stats().slots
    s = assert(socket.tcp())
    local t0 = clock()
    r = {s:connect(SERVER, 7002, clock() + 1)}
    local dt = clock() - t0
    if not (r[1] == nil and r[2] == 'timeout' and r[3] == 'ETIMEDOUT') then return false, show(unpack(r)) end
    if not within(dt, 0.95, 3) then return false, ('timed out after %.3f s, not 1 s'):format(dt) end
    -- a second connect on the same socket says it is still in progress
    -- (or times out again on its own deadline), it never hangs
    t0 = clock()
    r = {s:connect(SERVER, 7002, clock() + 0.3)}
    if r[1] ~= nil or clock() - t0 > 2 then return false, 'second connect: ' .. show(unpack(r)) end
    if not s:close() then return false, 'close failed' end
    if socket.stats().slots ~= slots then return false, 'slot not freed' end
    -- settimeout() does the same
    s = assert(socket.tcp())
    s:settimeout(0.5)
    t0 = clock()
    r = {s:connect(SERVER, 7002)}
    dt = clock() - t0
    s:close()
    if r[3] ~= 'ETIMEDOUT' or not within(dt, 0.45, 2.5) then
      return false, ('settimeout(0.5): %s after %.3f s'):format(show(unpack(r)), dt)
    end
    return true
  end)

  -- 100% loss on the link: connect times out; once healed, a new socket connects
  run('loss_connect_timeout_then_heal', function()
    loss_on()
    local s = assert(socket.tcp())
    local t0 = clock()
    local r = {s:connect(SERVER, 7000, clock() + 1)}
    local dt = clock() - t0
    s:close()
    if r[3] ~= 'ETIMEDOUT' or not within(dt, 0.95, 3) then
      return false, ('%s after %.3f s'):format(show(unpack(r)), dt)
    end
    loss_off()
    s = connect_echo()
    local got = echo_once(s, 'healed')
    s:close()
    return got == 'healed', 'after healing: ' .. tostring(got)
  end)

  -- a peer address with no host behind it on the link (ARP gets no answer)
  run('absent_host_connect_timeout', function()
    local s = assert(socket.tcp())
    local t0 = clock()
    local r = {s:connect('10.77.0.9', 7000, clock() + 1)}
    local dt = clock() - t0
    s:close()
    -- the deadline (1 s) comes before the kernel gives up on ARP (3 s)
    if r[3] ~= 'ETIMEDOUT' or not within(dt, 0.95, 3) then
      return false, ('%s after %.3f s'):format(show(unpack(r)), dt)
    end
    return true
  end)

  -- routes that refuse at once, and ICMP/RST answers that arrive later
  run('unreachable_routes_and_rejects', function()
    assert(sh('ip route add unreachable 10.78.0.0/16'))
    assert(sh('ip route add prohibit 10.79.0.0/16'))
    assert(sh('ip route add blackhole 10.80.0.0/16'))
    server_nft([[
table inet rej {
  chain in {
    type filter hook input priority 0;
    tcp dport 7003 reject with icmp type host-unreachable
    tcp dport 7004 reject with tcp reset
  }
}]])
    local cases = {
      {'10.78.0.1', 80, 'EHOSTUNREACH'}, {'10.79.0.1', 80, 'EACCES'}, {'10.80.0.1', 80, 'EINVAL'},
      {SERVER, 7003, 'EHOSTUNREACH'}, {SERVER, 7004, 'ECONNREFUSED'},
    }
    local bad = {}
    for _, c in ipairs(cases) do
      local s = assert(socket.tcp())
      local t0 = clock()
      local r = {s:connect(c[1], c[2], clock() + 5)}
      local dt = clock() - t0
      s:close()
      if r[1] ~= nil or r[3] ~= c[3] or type(r[2]) ~= 'string' or dt > 2 then
        bad[#bad + 1] = ('%s:%d -> %s in %.3f s (want %s)'):format(c[1], c[2], show(unpack(r)), dt, c[3])
      end
    end
    sh('ip route del 10.78.0.0/16'); sh('ip route del 10.79.0.0/16'); sh('ip route del 10.80.0.0/16')
    return #bad == 0, table.concat(bad, '; ')
  end)

  -- loss in the middle of a connection: recv times out on time; once the
  -- link heals, TCP retransmits and the same socket goes on
  run('recv_timeout_under_loss_then_reuse', function()
    local s = connect_echo()
    if echo_once(s, 'one') ~= 'one' then return false, 'first echo' end
    loss_on()
    assert(s:sendall('two'))
    local buf = ffi.new'uint8_t[3]'
    local t0 = clock()
    local r = {s:recvall(buf, 3, clock() + 0.5)}
    local dt = clock() - t0
    if r[3] ~= 'ETIMEDOUT' or r[2] ~= 'timeout' or not within(dt, 0.45, 2) then
      s:close()
      return false, ('recv under loss: %s after %.3f s'):format(show(unpack(r)), dt)
    end
    loss_off()
    r = {s:recvall(buf, 3, clock() + 15)}
    if r[1] ~= 3 or ffi.string(buf, 3) ~= 'two' then s:close(); return false, 'after healing: ' .. show(unpack(r)) end
    local again = echo_once(s, 'three')
    s:close()
    return again == 'three', 'reuse: ' .. tostring(again)
  end)

  -- loss while sending a lot: sendall times out with what it sent; after
  -- healing the rest goes out and the peer counts every byte
  run('sendall_timeout_under_loss_then_reuse', function()
    local s = connect_echo(7001)
    local LEN = 8 * 1024 * 1024
    local data = ffi.new('uint8_t[?]', LEN)
    loss_on()
    local t0 = clock()
    local r = {s:sendall(data, LEN, clock() + 1)}
    local dt = clock() - t0
    if r[3] ~= 'ETIMEDOUT' or not within(dt, 0.95, 3) or not (r[4] > 0 and r[4] < LEN) then
      s:close()
      return false, ('sendall under loss: %s after %.3f s'):format(show(unpack(r)), dt)
    end
    loss_off()
    local sent = r[4]
    r = {s:sendall(data + sent, LEN - sent, clock() + 30)}
    if r[1] ~= LEN - sent then s:close(); return false, 'rest: ' .. show(unpack(r)) end
    assert(s:shutdown('w'))
    local st = socket.stream(s)
    local count = st:readany(64, clock() + 30)
    st:close()
    return count == tostring(LEN), 'the peer counted ' .. tostring(count)
  end)

  -- delay (netem is not in this kernel; a tbf shaper at 80 kbit/s holds
  -- 5000 bytes back for about half a second): a short recv deadline fires,
  -- a longer one gets the data
  run('delay_recv_timeout_then_data', function()
    local s = connect_echo()
    assert(sh(('tc qdisc add dev %s root tbf rate 80kbit burst 1600 latency 10s'):format(DEV)))
    local msg = ('d'):rep(5000)
    local t0 = clock()
    assert(s:sendall(msg))
    local buf = ffi.new'uint8_t[5000]'
    local r = {s:recvall(buf, 5000, clock() + 0.2)}
    local dt = clock() - t0
    local ok, why = true, nil
    if r[3] ~= 'ETIMEDOUT' or not within(dt, 0.15, 1.5) then
      ok, why = false, ('short deadline: %s after %.3f s'):format(show(unpack(r)), dt)
    else
      local got = r[4]
      r = {s:recvall(buf + got, 5000 - got, clock() + 10)}
      dt = clock() - t0
      if r[1] ~= 5000 - got or ffi.string(buf, 5000) ~= msg then
        ok, why = false, 'long deadline: ' .. show(unpack(r))
      elseif dt < 0.3 then
        ok, why = false, ('no delay seen (%.3f s)'):format(dt)
      end
    end
    sh(('tc qdisc del dev %s root'):format(DEV))
    if ok and echo_once(s, 'fast') ~= 'fast' then ok, why = false, 'reuse after the delay' end
    s:close()
    return ok, why
  end)

  -- the peer vanishes (all traffic lost) under a recv without a deadline:
  -- TCP keepalive ends it with ETIMEDOUT from the kernel
  run('keepalive_ends_parked_recv_on_dead_peer', function()
    local s = connect_echo()
    assert(s:setopt('keepalive', true))
    assert(s:setopt('keepidle', 1))
    assert(s:setopt('keepintvl', 1))
    assert(s:setopt('keepcnt', 1))
    loss_on()
    local t0 = clock()
    local r = {s:recv(ffi.new'uint8_t[8]', 8, clock() + 20)}
    local dt = clock() - t0
    s:close()
    if r[1] ~= nil or r[3] ~= 'ETIMEDOUT' or dt > 15 then
      return false, ('%s after %.3f s'):format(show(unpack(r)), dt)
    end
    return true
  end)
end)
print('done')
