-- bench/compat/redis_get.lua VARIANT PORT N: a client doing N redis GETs of
-- a 16-byte value, one after the other on one connection to redis-server
-- on 127.0.0.1:PORT, after a warm-up of N/10; prints the client's CPU time
-- per GET in microseconds (its process CPU clock: user + system) and the
-- wall time per GET. VARIANT:
--   resp        hand-written RESP on socket2 (sendall, recv into a cdata buffer, parsed in place)
--   ngx         nginx.redis (Debian's lua-nginx-redis, as resty.redis) on socket2.ngx
--   ngx-pool    the same with OpenResty's idiom per GET: connect, get, set_keepalive
--   luasocket   redis-lua (Debian's lua-redis) on LuaSocket (its C core), blocking
--   copas       redis-lua on LuaSocket through copas 1.1.7 (a copas.wrap socket)
--   luasocket-s2  redis-lua on socket2.luasocket (LuaSocket's core on socket2)
local variant, port, n = arg[1], tonumber(arg[2]), tonumber(arg[3]) or 50000
local warm = math.max(1000, math.floor(n / 10))
local VALUE = ('v'):rep(16)

local function report(cpu, wall)
  io.write(('%.3f %.3f\n'):format(cpu / n * 1e6, wall / n * 1e6))
  io.stdout:flush()
end

-- runs body(count) for the warm-up, then timed
local function measure(body, clock)
  body(warm)
  local c0, w0 = os.clock(), clock()
  body(n)
  report(os.clock() - c0, clock() - w0)
end

if variant == 'resp' or variant == 'ngx' or variant == 'ngx-pool' or variant == 'luasocket-s2' then
  local socket = require'socket2'
  socket.run(function()
    local body
    if variant == 'resp' then
      -- the floor: one send of the request, recvs into a buffer until the
      -- whole reply ($16\r\n + value + \r\n) is there, parsed in place
      local ffi = require'ffi'
      local s = assert(socket.connect('127.0.0.1', port))
      assert(s:setopt('nodelay', true))
      local req = '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'
      local buf = ffi.new'uint8_t[4096]'
      body = function(count)
        for _ = 1, count do
          assert(s:sendall(req))
          local got, need = 0, nil
          while not need or got < need do
            local k = s:recv(buf + got, 4096 - got)
            if not k or k == 0 then error('connection lost') end
            got = got + k
            if not need then
              -- '$' digits '\r\n'
              local len, i = 0, 1
              while i < got and buf[i] ~= 13 do len = len * 10 + buf[i] - 48; i = i + 1 end
              if i + 1 < got then need = i + 2 + len + 2 end
            end
          end
          if need ~= 23 then error('bad reply') end
        end
      end
    elseif variant == 'ngx' or variant == 'ngx-pool' then
      require'socket2.ngx'
      local redis = require'resty.redis'
      local r = redis:new()
      r:set_timeout(5000)
      assert(r:connect('127.0.0.1', port))
      if variant == 'ngx' then
        body = function(count)
          for _ = 1, count do
            local v = r:get('k')
            if v ~= VALUE then error('bad reply: ' .. tostring(v)) end
          end
        end
      else
        assert(r:set_keepalive(0, 10))
        body = function(count)
          for _ = 1, count do
            local c = redis:new()
            c:set_timeout(5000)
            assert(c:connect('127.0.0.1', port))
            local v = c:get('k')
            if v ~= VALUE then error('bad reply: ' .. tostring(v)) end
            assert(c:set_keepalive(0, 10))
          end
        end
      end
    else
      require'socket2.luasocket'
      local c = require'redis'.connect('127.0.0.1', port)
      body = function(count)
        for _ = 1, count do
          if c:get('k') ~= VALUE then error('bad reply') end
        end
      end
    end
    measure(body, socket.clock)
  end)
elseif variant == 'luasocket' then
  local socket = require'socket'
  local c = require'redis'.connect('127.0.0.1', port)
  measure(function(count)
    for _ = 1, count do
      if c:get('k') ~= VALUE then error('bad reply') end
    end
  end, socket.gettime)
elseif variant == 'copas' then
  local socket = require'socket'
  local copas = require'copas'
  copas.addthread(function()
    local skt = socket.tcp()
    assert(copas.connect(skt, '127.0.0.1', port))
    skt:setoption('tcp-nodelay', true)
    local c = require'redis'.connect{socket = copas.wrap(skt)}
    measure(function(count)
      for _ = 1, count do
        if c:get('k') ~= VALUE then error('bad reply') end
      end
    end, socket.gettime)
    skt:close()
    os.exit(0) -- (copas 1.1.7's loop never returns by itself)
  end)
  copas.loop()
else
  error('unknown variant ' .. tostring(variant))
end
