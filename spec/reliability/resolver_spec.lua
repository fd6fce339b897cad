-- Non-blocking name lookup against a DNS server the test starts itself.
-- getaddrinfo runs on the shim's worker threads and reads /etc/resolv.conf,
-- so the check runs in private network and mount namespaces (unshare) where
-- resolv.conf names 127.0.0.1 and port 53 is ours: no query ever leaves
-- the machine, nor reaches its configured nameserver.
local H = require'helpers'

local sh = H.sh

local results, skip
do
  local can = false
  if require'ffi'.os == 'Windows' then
    skip = 'the lookup check runs in Linux namespaces (unshare, resolv.conf); Windows has neither'
  else
    can = select(2, sh('unshare -mn true'))
    if not can then skip = 'cannot create network and mount namespaces here (needs root and unshare)' end
  end
  if can then
    local conf = os.tmpname()
    local f = assert(io.open(conf, 'w'))
    f:write('nameserver 127.0.0.1\noptions timeout:5 attempts:1\n')
    f:close()
    local out = sh(("LUA_PATH='lua/?.lua;;' LUA_CPATH='./?.so;;' unshare -mn sh -c "
      .. "'ip link set lo up && mount --bind %s /etc/resolv.conf && luajit spec/reliability/dns/lookup_check.lua;"
      .. " if [ -x build/unload_check ]; then RES_OPTIONS=timeout:1 build/unload_check ./socket2/shim.so; fi'")
      :format(conf))
    os.remove(conf)
    results = {}
    for name, res in out:gmatch'check (%S+) ([^\n]+)' do results[name] = res end
    results._out = out
  end
end

local function expect(name)
  if skip then pending(skip) return end
  assert(results[name], 'no result for ' .. name .. ' in:\n' .. results._out)
  assert.equal('ok', results[name])
end

describe('name lookup', function()
  after_each(H.no_leaks)
  it('resolves a name through the DNS server in resolv.conf', function()
    expect('resolves'); expect('asked_our_server')
  end)
  it('reports a name that does not exist as EAI_NONAME', function() expect('nxdomain') end)
  it('times out a hanging lookup on its deadline', function()
    expect('hang_times_out'); expect('hang_deadline_kept')
  end)
  it('never stalls other threads while a lookup hangs', function() expect('loop_not_stalled') end)
  it('runs lookups in parallel', function() expect('parallel_lookup') end)
  it('connect() resolves names without blocking', function() expect('connect_resolves') end)
  it('a worker inside getaddrinfo survives the shim being unloaded (lua_close does it)', function()
    if not skip and not results.unload_survives then pending('build/unload_check is not built (make test builds it)') end
    expect('unload_survives')
  end)
end)
