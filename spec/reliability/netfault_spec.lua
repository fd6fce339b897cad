-- Network faults: packet loss, delay, silent and absent peers, unreachable
-- routes and ICMP/RST rejections, in two network namespaces the test makes
-- itself (linked by a veth pair). spec/reliability/netfault/server.lua serves in one,
-- spec/reliability/netfault/client.lua makes the faults (nft rules, routes, a tbf
-- qdisc) and checks the client side in the other; each of its
-- "check NAME ok|fail" lines is one test here. Without namespaces, veth,
-- nft or tc, every test is pending with the reason: never a silent pass.
-- (Loss is an nft drop rule and delay a tbf shaper: this kernel has no netem.)
local H = require'helpers'

local function sh(cmd)
  local p = assert(io.popen(cmd .. ' 2>&1; echo "exit status $?"'))
  local out = p:read'*a'
  p:close()
  return out, out:match'exit status (%d+)\n$' == '0'
end

local results, skip

-- Runs the whole client script once, on first use.
local function run_all()
  if results or skip then return end
  -- unique names: our pid (from /proc) and the time
  local f = io.open('/proc/self/stat')
  local pid = f and f:read'*n' or math.random(99999)
  if f then f:close() end
  local id = ('%d%d'):format(pid, os.time() % 1000)
  local cns, sns = 's2nfc' .. id, 's2nfs' .. id
  local need = {'ip', 'nft', 'tc'}
  for _, tool in ipairs(need) do
    local _, ok = sh('command -v ' .. tool)
    if not ok then skip = tool .. ' is not installed (tools/deps.sh iproute2 nftables)'; return end
  end
  local setup = table.concat({
    'set -e',
    'ip netns add ' .. cns, 'ip netns add ' .. sns,
    ('ip link add vc netns %s type veth peer name vs netns %s'):format(cns, sns),
    ('ip -n %s addr add 10.77.0.1/24 dev vc'):format(cns),
    ('ip -n %s addr add 10.77.0.2/24 dev vs'):format(sns),
    ('ip -n %s link set lo up'):format(cns), ('ip -n %s link set lo up'):format(sns),
    ('ip -n %s link set vc up'):format(cns), ('ip -n %s link set vs up'):format(sns),
    ('ip netns exec %s nft list ruleset'):format(cns),
    ('ip netns exec %s tc qdisc show dev vc'):format(cns),
  }, '\n')
  local out, ok = sh("sh -c '" .. setup .. "'")
  if not ok then
    sh(('ip netns del %s; ip netns del %s'):format(cns, sns))
    skip = 'cannot make network namespaces linked by veth with nft and tc here: ' .. out:gsub('\n', ' ')
    return
  end
  local env = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='./?.so;;' "
  local cmd = table.concat({
    -- the server lives at most 120 s, and is killed as soon as the client is done
    ('%s ip netns exec %s luajit spec/reliability/netfault/server.lua 10.77.0.2 120 > /dev/null 2>&1 & srv=$!'):format(env, sns),
    ('%s S2NF_SERVER_NS=%s S2NF_DEV=vc timeout 300 ip netns exec %s luajit spec/reliability/netfault/client.lua; rc=$?')
      :format(env, sns, cns),
    'kill $srv 2>/dev/null; wait $srv 2>/dev/null',
    ('ip netns del %s; ip netns del %s'):format(cns, sns),
    'exit $rc',
  }, '\n')
  out = sh(cmd)
  results = {_out = out}
  for name, res in out:gmatch'check (%S+) ([^\n]+)' do results[name] = res end
end

local function expect(name)
  run_all()
  if skip then pending(skip) return end
  assert(results[name], 'no result for ' .. name .. ' in:\n' .. results._out)
  assert.equal('ok', results[name])
  assert.is_nil(results[name .. '_no_leftovers'])
end

describe('network faults (namespaces + veth)', function()
  after_each(H.no_leaks)
  it('the client reaches the echo server through the veth pair', function() expect('reachable') end)
  it('a silent peer (SYNs dropped): connect times out on its deadline and settimeout; the socket closes cleanly',
    function() expect('silent_peer_connect_timeout') end)
  it('100% loss: connect times out; after healing a new socket connects', function()
    expect('loss_connect_timeout_then_heal')
  end)
  it('an absent host on the link: the deadline fires before ARP gives up', function()
    expect('absent_host_connect_timeout')
  end)
  it('unreachable/prohibit/blackhole routes, ICMP and RST rejections: nil, msg, portable code at once', function()
    expect('unreachable_routes_and_rejects')
  end)
  it('loss mid-stream: recv times out on time, the socket goes on after healing', function()
    expect('recv_timeout_under_loss_then_reuse')
  end)
  it('loss during sendall: timeout with bytes sent, the rest goes out after healing', function()
    expect('sendall_timeout_under_loss_then_reuse')
  end)
  it('delay (tbf shaping): a short recv deadline fires, a longer one gets the data', function()
    expect('delay_recv_timeout_then_data')
  end)
  it('a vanished peer under a parked recv: keepalive ends it with ETIMEDOUT', function()
    expect('keepalive_ends_parked_recv_on_dead_peer')
  end)
end)
