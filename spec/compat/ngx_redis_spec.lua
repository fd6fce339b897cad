-- spec/compat/ngx_redis_spec.lua: Debian's unchanged lua-nginx-redis
-- (nginx.redis 0.27, required as resty.redis) and lua-nginx-redis-connector
-- on socket2.ngx, against a real redis-server on 127.0.0.1.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

describe('compat: nginx.redis on socket2.ngx', function()
  local srv, why
  setup(function()
    local ok
    ok, why = S.have_lib('nginx.redis')
    if ok then srv, why = S.start('redis') end
  end)
  teardown(function() S.stop(srv) end)
  after_each(S.clean)

  local function new(timeout, opts)
    local redis = require'resty.redis'
    local r = assert(redis:new())
    r:set_timeout(timeout or 2000)
    assert(r:connect('127.0.0.1', srv.port, opts))
    return r
  end

  it('require\'resty.redis\' finds Debian\'s nginx.redis', function()
    H.skip_unless(S.have_lib('nginx.redis'))
    assert.equal(require'nginx.redis', require'resty.redis')
    assert.equal('0.27', require'resty.redis'._VERSION)
  end)

  it('commands: strings with CRLF, a missing key is ngx.null, integers, error replies, hashes', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new()
      assert.equal('OK', r:set('k', 'a\r\nb\0c'))
      assert.equal('a\r\nb\0c', r:get('k'))
      assert.equal(ngx.null, r:get('no such key'))
      assert.equal(1, r:del('k'))
      assert.equal(5, r:incr('n') + 4)
      local res, err = r:hset('h') -- wrong number of arguments
      assert.is_false(res)
      assert.matches('wrong number of arguments', err)
      assert.equal('OK', r:hmset('h', {a = '1', b = '2'}))
      assert.same({a = '1', b = '2'}, r:array_to_hash(r:hgetall('h')))
      local big = ('x'):rep(300000)
      assert.equal('OK', r:set('big', big))
      assert.equal(big, r:get('big'))
      assert.equal(1, r:close())
      assert.same({nil, 'closed'}, {r:get('k')})
    end)
  end)

  it('a pipeline: the requests go out as one nested array, the replies come back in order', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new()
      r:init_pipeline()
      r:set('p', 1)
      r:incr('p')
      r:get('p')
      r:hset('x') -- an error reply inside a pipeline
      r:get('no such key')
      local res = assert(r:commit_pipeline())
      assert.equal(5, #res)
      assert.same({'OK', 2, '2'}, {res[1], res[2], res[3]})
      assert.is_false(res[4][1])
      assert.equal(ngx.null, res[5])
      r:close()
    end)
  end)

  it('the pool: set_keepalive keeps the connection, the next connect reuses it (get_reused_times)', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new()
      assert.equal(0, r:get_reused_times())
      local id = r:client('id')
      assert.equal(1, r:set_keepalive(10000, 10))
      assert.same({nil, 'closed'}, {r:get('k')}) -- the object is closed now
      local r2 = new()
      assert.equal(1, r2:get_reused_times())
      assert.equal(id, r2:client('id')) -- the same connection
      assert.equal(1, r2:set_keepalive(10000, 10))
      local r3 = new()
      assert.equal(2, r3:get_reused_times())
      -- data left unread (in the cosocket's buffer, or in the kernel): not poolable
      local sock = r3._sock
      assert.equal(12, sock:send('PING\r\nPING\r\n'))
      socket.sleep(0.05)
      assert.equal('+PONG', sock:receive())
      assert.same({nil, 'unread data in buffer'}, {r3:set_keepalive()})
      assert.equal('+PONG', sock:receive())
      assert.equal(6, sock:send('PING\r\n'))
      socket.sleep(0.05)
      assert.same({nil, 'connection in dubious state'}, {r3:set_keepalive()})
      assert.same({nil, 'closed'}, {r3:ping()})
    end)
  end)

  it('a pooled connection the server closes is dropped; so is one past its idle timeout', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new()
      local id = r:client('id')
      assert.equal(1, r:set_keepalive(10000, 10))
      local killer = new(nil, {pool = 'killer'}) -- (not the pooled one)
      assert.equal(1, killer:client('kill', 'id', id))
      killer:close()
      local pool = require'socket2.ngx.tcp'.pools['127.0.0.1:' .. srv.port]
      local t0 = socket.clock()
      while #pool.items > 0 and socket.clock() - t0 < 5 do socket.sleep(0.01) end
      assert.equal(0, #pool.items)
      local r2 = new()
      assert.equal(0, r2:get_reused_times()) -- a fresh one
      assert.equal(1, r2:set_keepalive(50, 10)) -- 50 ms idle timeout
      assert.equal(1, #pool.items)
      socket.sleep(0.2)
      assert.equal(0, #pool.items)
      local r3 = new()
      assert.equal(0, r3:get_reused_times())
      r3:close()
    end)
  end)

  it('the pool evicts its least recently used connection when full; unix sockets pool by path', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local lru = {pool = 'lru'}
      local a, b, c = new(nil, lru), new(nil, lru), new(nil, lru)
      local ida, idb, idc = a:client('id'), b:client('id'), c:client('id')
      assert.equal(1, a:set_keepalive(10000, 2))
      assert.equal(1, b:set_keepalive(10000, 2))
      assert.equal(1, c:set_keepalive(10000, 2)) -- a goes
      local pool = require'socket2.ngx.tcp'.pools.lru
      assert.equal(2, #pool.items)
      local got = {}
      for _ = 1, 2 do
        local r = new(nil, lru)
        assert.equal(1, r:get_reused_times())
        got[r:client('id')] = true
        r:close()
      end
      assert.is_nil(got[ida])
      assert.is_true(got[idb] and got[idc])
      local redis = require'resty.redis'
      local u = redis:new()
      assert(u:connect('unix:' .. srv.dir .. '/redis.sock'))
      assert.equal('PONG', u:ping())
      assert.equal(1, u:set_keepalive())
      local u2 = redis:new()
      assert(u2:connect('unix:' .. srv.dir .. '/redis.sock'))
      assert.equal(1, u2:get_reused_times())
      u2:close()
    end)
  end)

  it('a read timeout: nil, timeout; nginx.redis closes the connection then', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new(100)
      local t0 = socket.clock()
      assert.same({nil, 'timeout'}, {r:blpop('empty list', 0)})
      local dt = socket.clock() - t0
      assert.is_true(dt >= 0.09 and dt < 1 * H.SLOW, tostring(dt))
      assert.same({nil, 'closed'}, {r:ping()})
    end)
  end)

  it('pub/sub: read_reply times out and the subscription goes on; a message from another thread arrives', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local sub = new(100)
      local res = assert(sub:subscribe('chan'))
      assert.same({'subscribe', 'chan', 1}, res)
      assert.same({nil, 'timeout'}, {sub:read_reply()}) -- not fatal while subscribed
      local pub = ngx.thread.spawn(function()
        ngx.sleep(0.05)
        local p = new()
        local n = p:publish('chan', 'hello')
        p:close()
        return n
      end)
      sub:set_timeout(5000)
      assert.same({'message', 'chan', 'hello'}, sub:read_reply())
      assert.same({true, 1}, {ngx.thread.wait(pub)})
      assert.same({'unsubscribe', 'chan', 0}, sub:unsubscribe('chan'))
      assert.equal('PONG', sub:ping())
      sub:close()
    end)
  end)

  it('ten threads, a connection each, interleave; the total is right', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local r = new()
      r:del('counter')
      local trace = {}
      local threads = {}
      for i = 1, 10 do
        threads[i] = ngx.thread.spawn(function()
          local c = new()
          for _ = 1, 50 do
            assert(c:incr('counter'))
            trace[#trace + 1] = i
          end
          assert.equal(1, c:set_keepalive())
          return i
        end)
      end
      for i = 1, 10 do assert.same({true, i}, {ngx.thread.wait(threads[i])}) end
      assert.equal('500', r:get('counter'))
      -- the threads ran concurrently: the trace switches between them
      local switches = 0
      for k = 2, #trace do if trace[k] ~= trace[k - 1] then switches = switches + 1 end end
      assert.is_true(switches > 50, 'switches: ' .. switches)
      r:close()
    end)
  end)

  it('connection refused, and a name that does not resolve, are returned', function()
    H.skip_unless(srv, why)
    socket.run(function()
      local redis = require'resty.redis'
      local r = redis:new()
      local free = S.free_port()
      assert.same({nil, 'connection refused'}, {r:connect('127.0.0.1', free)})
      local ok, err = r:connect('no-such-host.invalid', 6379)
      assert.is_nil(ok)
      assert.matches('could not be resolved', err)
    end)
  end)

  it('redis-connector: a DSN, its database, its keepalive (with its table-as-timeout bug)', function()
    H.skip_unless(srv, why)
    H.skip_unless(S.have_lib('nginx.redis.connector'))
    socket.run(function()
      local connector = require'resty.redis.connector'
      local rc = connector.new{url = ('redis://127.0.0.1:%d/2'):format(srv.port)}
      local r = assert(rc:connect())
      assert.equal('OK', r:set('dsn', 'db2'))
      assert.equal('db2', r:get('dsn'))
      assert.equal(1, rc:set_keepalive(r))
      local r2 = assert(rc:connect())
      assert.equal(1, r2:get_reused_times())
      assert.equal('db2', r2:get('dsn'))
      r2:select(0)
      assert.equal(ngx.null, r2:get('dsn'))
      r2:close()
      local bad = connector.new{url = ('redis://127.0.0.1:%d/0'):format(S.free_port()), connect_timeout = 200}
      local no, err = bad:connect()
      assert.is_nil(no)
      assert.equal('connection refused', err)
    end)
  end)
end)
