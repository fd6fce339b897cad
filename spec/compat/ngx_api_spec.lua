-- spec/compat/ngx_api_spec.lua: the ngx.* helpers of socket2.ngx
-- (lua-nginx-module README: ngx.re.*, ngx.encode_base64 ... ngx.thread.*,
-- ngx.timer.*, ngx.log, ngx.null, ngx.config, ngx.worker) and what an nginx
-- request owns, which says it is not supported here.
local socket = require'socket2'
local H = require'helpers'
local S = require'compat.servers'
local ngx = require'socket2.ngx'

local function captures(m)
  if not m then return m end
  local t = {}
  for k, v in pairs(m) do t[k] = v end
  return t
end

describe('compat: socket2.ngx helpers', function()
  after_each(S.clean)

  it('sets the global ngx (when there is none) to the module', function()
    assert.equal(ngx, _G.ngx)
  end)

  describe('ngx.re (PCRE2)', function()

    it('match: captures, false for unmatched groups, named groups, ctx.pos, options', function()
      H.skip_unless(ngx.socket2.re_available())
      assert.same({[0] = '1234', '1', '234', remaining = '234'},
        captures(ngx.re.match('hello, 1234', '([0-9])(?<remaining>[0-9]+)')))
      assert.same({[0] = 'hello', false, 'hello', false, named = false},
        captures(ngx.re.match('hello, world', '(world)|(hello)|(?<named>howdy)')))
      local ctx = {pos = 2}
      assert.equal('234', ngx.re.match('1234, hello', '[0-9]+', '', ctx)[0])
      assert.equal(5, ctx.pos)
      assert.equal('hello', ngx.re.match('hello, world', 'HEL LO', 'ix')[0])
      assert.equal('美好', ngx.re.match('hello, 美好生活', 'HELLO, (.{2})', 'iu')[1])
      assert.same({'hello', 'world'}, ngx.re.match('hello, world', [[(?<named>\w+), (?<named>\w+)]], 'D').named)
      assert.is_nil(ngx.re.match('hello', 'world', 'jo'))
      assert.is_nil(ngx.re.match('xhello', 'hello', 'a')) -- anchored
      assert.equal('bcd', ngx.re.match('abcd', 'b+|bcd', 'd')[0]) -- DFA: the longest
      local res = {}
      assert.equal(res, ngx.re.match('abc', 'b', '', nil, res))
      local m, err = ngx.re.match('x', '(', 'o')
      assert.is_nil(m)
      assert.matches('pcre2_compile%(%) failed: missing closing parenthesis', err)
      H.raises('unknown flag "z"', ngx.re.match, 'x', 'x', 'z')
    end)

    it('find (nth), gmatch', function()
      H.skip_unless(ngx.socket2.re_available())
      assert.same({8, 11}, {ngx.re.find('hello, 1234', '([0-9]+)', 'jo')})
      assert.same({9, 11}, {ngx.re.find('hello, 1234', '([0-9])([0-9]+)', 'jo', nil, 2)})
      assert.is_nil(ngx.re.find('hello', '[0-9]'))
      local words = {}
      for m in ngx.re.gmatch('hello, world!', '([a-z]+)', 'i') do words[#words + 1] = m[0] .. '/' .. m[1] end
      assert.same({'hello/hello', 'world/world'}, words)
      local n = 0
      for _ in ngx.re.gmatch('abc', 'x*') do n = n + 1 end
      assert.equal(4, n) -- empty matches advance
    end)

    it('sub and gsub: templates ($0, ${1}, $$), functions, the libraries\' own calls', function()
      H.skip_unless(ngx.socket2.re_available())
      assert.same({'hello, [12][1]34', 1}, {ngx.re.sub('hello, 1234', '([0-9])[0-9]', '[$0][$1]')})
      assert.same({'hello, 100234', 1}, {ngx.re.sub('hello, 1234', '[0-9]', '${0}00')})
      assert.same({'hello, $234', 1}, {ngx.re.sub('hello, 1234', '[0-9]', '$$')})
      assert.same({'[hello,h], [world,w]', 2}, {ngx.re.gsub('hello, world', '([a-z])[a-z]+', '[$0,$1]', 'i')})
      assert.same({'[hello,h], [world,w]', 2}, {ngx.re.gsub('hello, world', '([a-z])[a-z]+',
        function(m) return '[' .. m[0] .. ',' .. m[1] .. ']' end, 'i')})
      assert.same({'-a--c-', 4}, {ngx.re.gsub('abc', 'b*', '-')})
      assert.same({'abc', 0}, {ngx.re.sub('abc', 'x', 'y')})
      assert.same({nil, nil, 'failed to compile the replacement template'}, {ngx.re.sub('a', 'a', '$x')})
      -- nginx.dns.resolver's and redis-connector's patterns
      assert.same({'4.3.2.1.in-addr.arpa', 1}, {ngx.re.sub('1.2.3.4',
        [[(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})]], '$4.$3.$2.$1.in-addr.arpa', 'ajo')})
      assert.same({'::1', 1}, {ngx.re.sub('0:0:0:0:0:0:0:1', '^(0:)+|(:0)+$|:(0:)+', '::', 'jo')})
      local m = ngx.re.match('redis://:pw@127.0.0.1:6379/2',
        [[^(?:(redis|sentinel)://)(?:([^@]*)@)?([^:/]+)(?::(\d+|[msa]+))/?(.*)$]], 'oj')
      assert.same({'redis', ':pw', '127.0.0.1', '6379', '2'}, {m[1], m[2], m[3], m[4], m[5]})
    end)
  end)

  describe('strings and digests', function()
    it('base64 both ways, without padding too; bad input decodes to nil', function()
      for _, s in ipairs{'', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar', '\0\255\1'} do
        assert.equal(s, ngx.decode_base64(ngx.encode_base64(s)))
      end
      assert.equal('Zm9vYmE=', ngx.encode_base64('fooba'))
      assert.equal('Zm9vYmE', ngx.encode_base64('fooba', true))
      assert.equal('fooba', ngx.decode_base64('Zm9vYmE'))
      assert.is_nil(ngx.decode_base64('Zm9v!'))
      assert.is_nil(ngx.decode_base64('Z'))
    end)

    it('escape_uri (component, and whole-URI type 0), unescape_uri, args', function()
      assert.equal('a%20b%2Fc%3F%26%3D~-._!\'()*', ngx.escape_uri('a b/c?&=~-._!\'()*'))
      assert.equal('a%20b/c%3F&=', ngx.escape_uri('a b/c?&=', 0))
      assert.equal('a b/c?+', ngx.unescape_uri('a+b%2Fc%3F%2B'))
      assert.equal('bad %zz', ngx.unescape_uri('bad %zz'))
      assert.same({a = '1', b = {'2', '3'}, c = true}, ngx.decode_args('a=1&b=2&b=3&c'))
      assert.equal('a=x%20y', ngx.encode_args{a = 'x y'})
      assert.equal("'it\\'s'", ngx.quote_sql_str("it's"))
    end)

    it('md5, sha1_bin, hmac_sha1 (libcrypto), crc32', function()
      local ok = require'socket2.compat.sys'.crypto()
      H.skip_unless(ok, 'no libcrypto here')
      assert.equal('d41d8cd98f00b204e9800998ecf8427e', ngx.md5(''))
      assert.equal('900150983cd24fb0d6963f7d28e17f72', ngx.md5('abc'))
      assert.equal(('a9993e364706816aba3e25717850c26c9cd0d89d'):gsub('%x%x', function(h)
        return string.char(tonumber(h, 16)) end), ngx.sha1_bin('abc'))
      -- RFC 2202 test case 2
      assert.equal(('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'):gsub('%x%x', function(h)
        return string.char(tonumber(h, 16)) end), ngx.hmac_sha1('Jefe', 'what do ya want for nothing?'))
      assert.equal(0x352441c2, ngx.crc32_short('abc'))
      assert.equal(0xcbf43926, ngx.crc32_long('123456789'))
      assert.equal(0, ngx.crc32_short(''))
    end)

    it('time: now (ms), time, http_time and parse_http_time round trip', function()
      local now = ngx.now()
      assert.is_true(math.abs(now - os.time()) < 2)
      assert.equal(now, math.floor(now * 1000) / 1000)
      assert.equal(math.floor(ngx.now()), ngx.time())
      assert.equal('Thu, 18 Nov 2010 11:27:35 GMT', ngx.http_time(1290079655))
      assert.equal('Thu, 18-Nov-10 11:27:35 GMT', ngx.cookie_time(1290079655))
      assert.equal(1290079655, ngx.parse_http_time('Thu, 18 Nov 2010 11:27:35 GMT'))
      assert.is_nil(ngx.parse_http_time('yesterday'))
      assert.matches('^%d%d%d%d%-%d%d%-%d%d$', ngx.today())
    end)

    it('log: levels, the message as nginx builds it (nil, booleans, ngx.null), the error_log level', function()
      local lines = {}
      local conf = ngx.socket2.conf
      local old_log, old_level = conf.log, conf.log_level
      conf.log = function(level, msg) lines[#lines + 1] = {level, msg} end
      conf.log_level = ngx.WARN
      ngx.log(ngx.ERR, 'a ', 1, ' ', nil, ' ', true, ' ', ngx.null, ' ', setmetatable({}, {__tostring = function()
        return 'obj' end}))
      ngx.log(ngx.INFO, 'not shown')
      ngx.log(ngx.WARN, 'shown')
      conf.log, conf.log_level = old_log, old_level
      assert.same({{ngx.ERR, 'a 1 nil true null obj'}, {ngx.WARN, 'shown'}}, lines)
      H.raises('bad log level', ngx.log, 99, 'x')
      H.raises('expected table to have __tostring metamethod', ngx.log, ngx.ERR, {})
      assert.equal(8, ngx.DEBUG)
      assert.is_false(ngx.null == nil)
      assert.equal('userdata', type(ngx.null))
    end)

    it('config and worker', function()
      assert.is_true(ngx.config.ngx_lua_version >= 9011) -- (the websocket client checks it for wss)
      assert.equal('http', ngx.config.subsystem)
      assert.is_false(ngx.config.debug)
      assert.is_number(ngx.worker.pid())
      assert.is_false(ngx.worker.exiting())
      assert.equal(0, ngx.worker.id())
      assert.equal(1, ngx.worker.count())
    end)
  end)

  describe('light threads', function()
    it('spawn runs to the first wait; wait returns the first to end, like coroutine.resume', function()
      socket.run(function()
        local steps = {}
        local f = ngx.thread.spawn(function(a) steps[#steps + 1] = 'f ' .. a; ngx.sleep(0.05); return 'f done' end, 1)
        assert.same({'f 1'}, steps)
        local g = ngx.thread.spawn(function() ngx.sleep(0.01); return 'g done', 2 end)
        assert.same({true, 'g done', 2}, {ngx.thread.wait(f, g)})
        assert.same({true, 'f done'}, {ngx.thread.wait(f)})
        assert.same({nil, 'already waited or killed'}, {ngx.thread.wait(f)})
        assert.equal('dead', coroutine.status(f))
      end)
    end)

    it('an error ends its thread only (wait: false, err); kill', function()
      local lines = {}
      local conf = ngx.socket2.conf
      local old = conf.log
      conf.log = function(_, msg) lines[#lines + 1] = msg end
      socket.run(function()
        local bad = ngx.thread.spawn(function() ngx.sleep(0.01); error('boom', 0) end)
        local ok, err = ngx.thread.wait(bad)
        assert.is_false(ok)
        assert.equal('boom', err)
        local long = ngx.thread.spawn(function() ngx.sleep(10) end)
        assert.is_true(ngx.thread.kill(long))
        assert.same({nil, 'already waited or killed'}, {ngx.thread.kill(long)})
        local quick = ngx.thread.spawn(function() return 1 end)
        assert.same({nil, 'already terminated'}, {ngx.thread.kill(quick)})
        assert.same({nil, 'not user thread'}, {ngx.thread.kill(coroutine.create(print))})
      end)
      conf.log = old
      assert.matches('lua user thread aborted: runtime error: boom', lines[1])
    end)

    it('outside any thread, wait runs the loop', function()
      local t = ngx.thread.spawn(function() ngx.sleep(0.01); return 'x' end)
      assert.same({true, 'x'}, {ngx.thread.wait(t)})
      H.raises('invalid sleep duration', ngx.sleep, -1)
    end)
  end)

  describe('timers', function()
    after_each(function() ngx.socket2.reset() end)

    it('at runs f(premature = false, ...) later, in a thread of its own; every repeats', function()
      local got, n = nil, 0
      assert.equal(1, ngx.timer.at(0.02, function(premature, a, b) got = {premature, a, b} end, 'x', 'y'))
      assert.equal(1, ngx.timer.pending_count())
      assert.is_nil(got)
      assert.equal(1, ngx.timer.every(0.01, function() n = n + 1 end))
      H.wait_until(function() return got and n >= 3 end)
      assert.same({false, 'x', 'y'}, got)
      H.raises('delay cannot be zero', ngx.timer.every, 0, print)
      H.raises('Lua function expected', ngx.timer.at, 0, 'f')
      -- a worker's exit: the pending timers run at once with premature = true
      local pre
      ngx.timer.at(100, function(premature) pre = premature end)
      assert.equal(2, ngx.socket2.shutdown()) -- the every() one and this one
      H.wait_until(function() return pre ~= nil end)
      assert.is_true(pre)
      assert.is_true(ngx.worker.exiting())
      assert.same({nil, 'process exiting'}, {ngx.timer.at(1, print)})
      assert.equal(0, ngx.timer.pending_count())
    end)

    it('shutdown runs every pending timer prematurely, also when their callbacks add timers', function()
      local premature, later = 0, 0
      for _ = 1, 50 do
        ngx.timer.at(60, function(p)
          if p then premature = premature + 1 end
          for _ = 1, 5 do ngx.timer.at(0, function() later = later + 1 end) end -- (0: allowed when exiting)
        end)
      end
      assert.equal(50, ngx.socket2.shutdown())
      assert.equal(50, premature)
      assert.is_true(socket.start(5)) -- nothing waits: no 60 s timer was skipped
      assert.equal(250, later)
    end)

    it('an error in a timer is logged; the loop goes on', function()
      local lines = {}
      local conf = ngx.socket2.conf
      local old = conf.log
      conf.log = function(_, msg) lines[#lines + 1] = msg end
      local after = false
      ngx.timer.at(0, function() error('timer bug', 0) end)
      ngx.timer.at(0.01, function() after = true end)
      H.wait_until(function() return after end)
      conf.log = old
      assert.matches('timer bug', lines[1])
    end)

    it('lua-nginx-kafka: its async producer flushes on timers, errors come back to error_handle', function()
      H.skip_unless(package.searchpath('nginx.kafka.producer', package.path), 'lua-nginx-kafka is not installed')
      local producer = require'resty.kafka.producer'
      local failed
      local p = producer:new({{host = '127.0.0.1', port = S.free_port()}}, {producer_type = 'async',
        flush_time = 20, refresh_interval = 60000, request_timeout = 200,
        error_handle = function(topic, _, _, _, err) failed = {topic, err} end})
      local conf = ngx.socket2.conf
      local old = conf.log
      conf.log = function() end
      assert.is_true(p:send('topic1', 'key', 'message'))
      H.wait_until(function() return failed end)
      assert.equal('topic1', failed[1])
      -- the sync producer: the error comes back at once
      local sync = producer:new({{host = '127.0.0.1', port = S.free_port()}}, {request_timeout = 200})
      local offset, err = sync:send('topic1', 'key', 'message')
      assert.is_nil(offset)
      assert.is_string(err)
      ngx.socket2.shutdown() -- ends the producer's flush timer
      socket.start(1)
      conf.log = old
    end)
  end)

  describe('the other lua-nginx-* libraries of Debian', function()
    it('lua-nginx-string: md5, sha1, sha256, aes, random (OpenSSL in ffi.C); to_hex needs nginx\'s own C', function()
      H.skip_unless(package.searchpath('nginx.md5', package.path), 'lua-nginx-string is not installed')
      H.skip_unless(require'socket2.compat.sys'.crypto())
      H.skip_unless(not H.windows, 'a DLL\'s symbols never join ffi.C on Windows (lua-nginx-string calls ffi.C.MD5_Init)')
      local md5 = require'resty.md5':new()
      assert.is_true(md5:update('abc'))
      local digest = md5:final()
      assert.equal('900150983cd24fb0d6963f7d28e17f72', (digest:gsub('.', function(c)
        return ('%02x'):format(c:byte()) end)))
      local sha256 = require'resty.sha256':new()
      sha256:update('abc')
      assert.equal(32, #sha256:final())
      local aes = require'resty.aes'
      local a = assert(aes:new('a secret key'))
      assert.equal('plain text', a:decrypt(a:encrypt('plain text')))
      assert.equal(16, #require'resty.random'.bytes(16))
      local ok, err = pcall(require'resty.string'.to_hex, 'x')
      assert.is_false(ok)
      assert.matches('ngx_hex_dump', err) -- (a symbol of the nginx binary)
    end)

    it('lua-nginx-cookie needs a request: it says so', function()
      H.skip_unless(package.searchpath('nginx.cookie', package.path), 'lua-nginx-cookie is not installed')
      local ck = require'resty.cookie'
      H.raises('ngx%.var%.http_cookie: not supported outside nginx', function() ck:new():get_all() end)
    end)
  end)

  describe('what an nginx request owns', function()
    it('raises a clear error', function()
      H.raises('ngx%.var%.foo: not supported outside nginx', function() return ngx.var.foo end)
      H.raises('ngx%.header%.x: not supported outside nginx', function() ngx.header.x = 1 end)
      H.raises('ngx%.req%.get_headers: not supported outside nginx', ngx.req.get_headers)
      H.raises('ngx%.req%.socket: not supported outside nginx', ngx.req.socket, true)
      H.raises('ngx%.exit: not supported outside nginx', ngx.exit, 200)
      H.raises('ngx%.shared%.cache: not supported outside nginx', function() return ngx.shared.cache end)
      H.raises('ngx%.location%.capture: not supported outside nginx', ngx.location.capture, '/')
    end)

    it('require\'resty.x\' without an nginx.x says where it looked', function()
      local ok, err = pcall(require, 'resty.no_such_module')
      assert.is_false(ok)
      assert.matches('socket2.ngx looked for nginx.no_such_module', err)
    end)
  end)
end)
