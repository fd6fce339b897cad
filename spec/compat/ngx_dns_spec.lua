-- spec/compat/ngx_dns_spec.lua: Debian's unchanged lua-nginx-dns
-- (nginx.dns.resolver 0.20, as resty.dns.resolver) on socket2.ngx: UDP
-- queries to a real dnsmasq, TCP queries, the TCP fallback on a truncated
-- answer (tools/compat/tcdns.py sets TC on every UDP reply), errors.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

describe('compat: nginx.dns.resolver on socket2.ngx', function()
  local dns, tc, why, tcwhy
  setup(function()
    local ok
    ok, why = S.have_lib('nginx.dns.resolver')
    if ok then dns, why = S.start('dnsmasq') end
    tcwhy = why
    if ok then tc, tcwhy = S.start('tcdns') end
  end)
  teardown(function() S.stop(dns); S.stop(tc) end)
  after_each(S.clean)

  local function resolver(port, opts)
    local r = require'resty.dns.resolver'
    opts = opts or {}
    opts.nameservers = {{'127.0.0.1', port}}
    opts.timeout = opts.timeout or 2000
    opts.retrans = opts.retrans or 2
    return assert(r:new(opts))
  end

  it('A, AAAA and TXT over UDP from dnsmasq', function()
    H.skip_unless(dns, why)
    socket.run(function()
      local r = resolver(dns.port)
      local ans = assert(r:query('www.example.test'))
      assert.is_nil(ans.errcode)
      assert.equal(1, #ans)
      assert.equal('127.0.0.42', ans[1].address)
      assert.equal(r.TYPE_A, ans[1].type)
      ans = assert(r:query('example.test', {qtype = r.TYPE_AAAA}))
      assert.equal(1, #ans)
      assert.equal('fd00::42', require'resty.dns.resolver'.compress_ipv6_addr(ans[1].address))
      ans = assert(r:query('txt.example.test', {qtype = r.TYPE_TXT}))
      assert.equal('hello world', ans[1].txt)
    end)
  end)

  it('an unknown name: NXDOMAIN (errcode 3), not a failure', function()
    H.skip_unless(dns, why)
    socket.run(function()
      local r = resolver(dns.port)
      local ans = assert(r:query('host.nx.test'))
      assert.equal(3, ans.errcode)
      assert.equal('name error', ans.errstr)
    end)
  end)

  it('over TCP, twice with one resolver (the closed tcp cosocket connects again)', function()
    H.skip_unless(dns, why)
    socket.run(function()
      local r = resolver(dns.port)
      for _ = 1, 2 do
        local ans = assert(r:tcp_query('www.example.test'))
        assert.equal('127.0.0.42', ans[1].address)
      end
    end)
  end)

  it('falls back to TCP when the UDP answer is truncated', function()
    H.skip_unless(tc, tcwhy)
    socket.run(function()
      local r = resolver(tc.port)
      local ans = assert(r:query('big.example.test'))
      assert.equal(40, #ans)
      assert.equal('127.0.0.1', ans[1].address)
      assert.equal('127.0.0.40', ans[40].address)
      ans = assert(r:query('txt.big.example.test', {qtype = r.TYPE_TXT}))
      assert.equal(3, #ans)
      assert.equal(('y'):rep(200), ans[2].txt)
    end)
  end)

  it('UDP to a closed port: connection refused; a silent server: timeout after the retransmissions', function()
    H.skip_unless(dns, why)
    socket.run(function()
      local closed = S.free_port()
      local r = resolver(closed)
      local ans, err = r:query('www.example.test')
      assert.is_nil(ans)
      assert.matches('connection refused', err)
      -- a udp socket that never answers
      local silent = assert(socket.udp())
      assert(silent:bind('127.0.0.1', 0))
      r = resolver(silent:getsockname():port(), {timeout = 50, retrans = 3})
      local t0 = socket.clock()
      ans, err = r:query('www.example.test')
      local dt = socket.clock() - t0
      assert.is_nil(ans)
      assert.matches('timeout', err)
      assert.is_true(dt >= 0.14 and dt < 2 * H.SLOW, tostring(dt))
      silent:close()
    end)
  end)

  it('reverse names (ngx.re.sub with captures), IPv6 compression (ngx.re.sub with alternation)', function()
    H.skip_unless(S.have_lib('nginx.dns.resolver'))
    H.skip_unless(ngx.socket2.re_available())
    local r = require'resty.dns.resolver'
    assert.equal('4.3.2.1.in-addr.arpa', r.arpa_str('1.2.3.4'))
    assert.equal('::1', r.compress_ipv6_addr('0:0:0:0:0:0:0:1'))
    assert.equal('fd00::42', r.compress_ipv6_addr('fd00:0:0:0:0:0:0:42'))
  end)
end)
