-- spec/compat/ngx_memcached_spec.lua: Debian's unchanged lua-nginx-memcached
-- (nginx.memcached 0.14, as resty.memcached) on socket2.ngx against a real
-- memcached on 127.0.0.1.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

describe('compat: nginx.memcached on socket2.ngx', function()
  local srv, why
  setup(function()
    local ok
    ok, why = S.have_lib('nginx.memcached')
    if ok then srv, why = S.start('memcached') end
  end)
  teardown(function() S.stop(srv) end)
  after_each(S.clean)

  local function new()
    local memcached = require'resty.memcached'
    local m = assert(memcached:new())
    m:set_timeout(2000)
    assert(m:connect('127.0.0.1', srv.port))
    return m
  end

  it('set/get (a key with a space goes through escape_uri), flags, add, delete, version', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local m = new()
      assert.equal(1, m:flush_all())
      assert.equal(1, m:set('a key', 'the value\r\n', 0, 42))
      assert.same({'the value\r\n', '42'}, {m:get('a key')})
      assert.same({nil, nil}, {m:get('missing')})
      local ok, err = m:add('a key', 'x')
      assert.is_nil(ok)
      assert.equal('NOT_STORED', err)
      assert.equal(1, m:delete('a key'))
      assert.same({nil, nil}, {m:get('a key')})
      assert.matches('^1%.', (m:version()))
      -- a table value is sent as its concatenation (send with a table)
      assert.equal(1, m:set('t', {'a', 'b', {'c', 1}}))
      assert.equal('abc1', (m:get('t')))
      m:close()
    end)
  end)

  it('multi-get, incr/decr, gets/cas', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local m = new()
      for i = 1, 5 do assert.equal(1, m:set('k' .. i, 'v' .. i)) end
      local res = assert(m:get{'k1', 'k3', 'k5', 'nope'})
      assert.same({'v1', '0'}, res.k1)
      assert.same({'v5', '0'}, res.k5)
      assert.is_nil(res.nope)
      assert.equal(1, m:set('n', 10))
      assert.equal('15', m:incr('n', 5))
      assert.equal('12', m:decr('n', 3))
      local v, flags, cas = m:gets('k2')
      assert.equal('v2', v)
      assert.equal('0', flags)
      assert.equal(1, m:cas('k2', 'new', cas))
      local ok, err = m:cas('k2', 'again', cas)
      assert.is_nil(ok)
      assert.equal('EXISTS', err)
      m:close()
    end)
  end)

  it('the pool: set_keepalive, then connect reuses the connection', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local m = new()
      assert.equal(0, m:get_reused_times())
      assert.equal(1, m:set_keepalive(10000, 5))
      local m2 = new()
      assert.equal(1, m2:get_reused_times())
      assert.equal(1, m2:set('pooled', 'yes'))
      assert.equal('yes', (m2:get('pooled')))
      m2:close()
    end)
  end)

  it('threads, each with its own connection, run side by side', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local done = {}
      local ts = {}
      for i = 1, 8 do
        ts[i] = ngx.thread.spawn(function()
          local m = new()
          for k = 1, 20 do
            assert.equal(1, m:set(('t%d-%d'):format(i, k), ('x'):rep(k * 100)))
            assert.equal(('x'):rep(k * 100), (m:get(('t%d-%d'):format(i, k))))
          end
          m:set_keepalive()
          done[i] = true
        end)
      end
      for i = 1, 8 do assert.is_true((ngx.thread.wait(ts[i]))) end
      for i = 1, 8 do assert.is_true(done[i]) end
    end)
  end)
end)
