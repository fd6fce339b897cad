-- socket2.ngx: OpenResty's cosocket API and the ngx.* helpers that the
-- pure-Lua lua-resty-* libraries use, on socket2, so that they run
-- unchanged outside nginx, in socket2 threads (or from plain code: a call
-- then blocks while the loop runs, as socket2's own calls do).
--
--   local ngx = require'socket2.ngx'   -- also sets the global ngx if there is none
--   local redis = require'resty.redis' -- Debian's nginx.redis
--
-- What an nginx request owns (ngx.var, ngx.header, ngx.req.*, ngx.exit, ...)
-- does not exist here: reading or calling it raises
-- "<name>: not supported outside nginx". ngx.say/print write to standard
-- output, as OpenResty's `resty` command line does.
--
-- The module table is ngx itself; what is not part of nginx's API is under
-- ngx.socket2: conf (the directives' values), pool_clear(), shutdown()
-- (a worker's exit: pending timers run with premature = true), reset().
local misc = require'socket2.ngx.misc'
local tcp = require'socket2.ngx.tcp'
local udp = require'socket2.ngx.udp'
local thread = require'socket2.ngx.thread'
local re = require'socket2.ngx.re'
local conf = require'socket2.ngx.conf'
local sys = require'socket2.compat.sys'

local ngx = {}

-- ngx.null: a NULL light userdata, as lua-cjson's cjson.null is (the same
-- value when lua-cjson is installed, so that cjson.encode writes null);
-- otherwise a unique userdata that prints as "null"
do
  local ok, cjson = pcall(require, 'cjson')
  if ok and type(cjson) == 'table' and cjson.null ~= nil then
    ngx.null = cjson.null
  else
    local p = newproxy(true)
    getmetatable(p).__tostring = function() return 'null' end
    ngx.null = p
  end
end
misc.set_null(ngx.null)

-- levels, log
for name, v in pairs(misc.levels) do ngx[name] = v end
ngx.OK, ngx.ERROR, ngx.AGAIN, ngx.DONE, ngx.DECLINED = 0, -1, -2, -4, -5
ngx.log = misc.log
thread.set_log(misc.log)

-- strings, digests, time
for _, k in ipairs{'encode_base64', 'decode_base64', 'escape_uri', 'unescape_uri', 'encode_args', 'decode_args',
                   'quote_sql_str', 'md5', 'md5_bin', 'sha1_bin', 'hmac_sha1', 'crc32_short', 'crc32_long',
                   'now', 'time', 'update_time', 'today', 'localtime', 'utctime', 'http_time', 'cookie_time',
                   'parse_http_time', 'say', 'print', 'flush'} do
  ngx[k] = misc[k]
end

-- sockets
ngx.socket = {tcp = tcp.new, stream = tcp.new, udp = udp.new, connect = tcp.connect}

-- light threads, timers, sleep
ngx.thread = {spawn = thread.spawn, wait = thread.wait, kill = thread.kill}
ngx.timer = {at = thread.at, every = thread.every, running_count = thread.running_count,
             pending_count = thread.pending_count}
ngx.sleep = thread.sleep

-- regular expressions (PCRE2)
ngx.re = {match = re.match, find = re.find, gmatch = re.gmatch, sub = re.sub, gsub = re.gsub}

-- the process ("worker")
ngx.worker = {
  pid = sys.getpid,
  exiting = thread.exiting,
  id = function() return 0 end,
  count = function() return 1 end,
}
ngx.config = {
  subsystem = 'http',
  debug = false,
  ngx_lua_version = 10026, -- what this API follows (lua-nginx-module 0.10.26)
  nginx_version = 1025003,
  prefix = function() return './' end,
  nginx_configure = function() return '' end,
  is_console = true, -- no nginx around, as in the `resty` command line
}

-- what belongs to an nginx request: raises when used
local function unsupported(name)
  return function() error(name .. ': not supported outside nginx (socket2.ngx has no HTTP request)', 2) end
end
local function unsupported_table(name)
  return setmetatable({}, {
    __index = function(_, k) error(('%s.%s: not supported outside nginx (socket2.ngx has no HTTP request)')
      :format(name, tostring(k)), 2) end,
    __newindex = function(_, k) error(('%s.%s: not supported outside nginx (socket2.ngx has no HTTP request)')
      :format(name, tostring(k)), 2) end,
  })
end
local function unsupported_functions(name, fns)
  local t = {}
  for _, f in ipairs(fns) do t[f] = unsupported(name .. '.' .. f) end
  return setmetatable(t, {__index = function(_, k)
    return unsupported(name .. '.' .. tostring(k))
  end})
end
ngx.var = unsupported_table('ngx.var')
ngx.header = unsupported_table('ngx.header')
ngx.arg = unsupported_table('ngx.arg')
ngx.shared = unsupported_table('ngx.shared')
ngx.req = unsupported_functions('ngx.req', {'socket', 'get_headers', 'http_version', 'read_body', 'get_body_data',
  'get_method', 'get_uri_args', 'get_post_args', 'raw_header', 'set_header', 'clear_header', 'start_time',
  'is_internal', 'set_uri', 'set_method', 'set_body_data', 'get_body_file', 'discard_body', 'init_body',
  'append_body', 'finish_body', 'set_uri_args', 'get_headers'})
ngx.resp = unsupported_functions('ngx.resp', {'get_headers'})
ngx.location = unsupported_functions('ngx.location', {'capture', 'capture_multi'})
for _, f in ipairs{'exit', 'exec', 'redirect', 'send_headers', 'eof', 'on_abort', 'get_phase'} do
  ngx[f] = unsupported('ngx.' .. f)
end
ngx.headers_sent = false
ngx.status = 0
ngx.ctx = {}
ngx.HTTP_OK, ngx.HTTP_SWITCHING_PROTOCOLS, ngx.HTTP_BAD_REQUEST, ngx.HTTP_NOT_FOUND = 200, 101, 400, 404
ngx.HTTP_INTERNAL_SERVER_ERROR, ngx.HTTP_CLOSE = 500, 444
ngx.HTTP_GET, ngx.HTTP_POST, ngx.HTTP_PUT, ngx.HTTP_DELETE, ngx.HTTP_HEAD = 2, 8, 16, 32, 4

-- socket2's own: configuration and the lifetime calls nginx does not need
ngx.socket2 = {
  conf = conf,
  pool_clear = tcp.pool_clear,
  shutdown = thread.shutdown,
  reset = thread.reset,
  re_available = re.available,
}

-- require'resty.x' finds Debian's nginx.x (Debian renames lua-resty-*
-- modules to nginx.*): a searcher after the others, so that an upstream
-- resty.x installed on the path is found first.
local loaders = package.loaders or rawget(package, 'searchers') -- (5.1: loaders; 5.2+: searchers)
local function resty_alias(name)
  local rest = name:match'^resty%.(.+)$'
  if not rest then return nil end
  local alias = 'nginx.' .. rest
  if not package.loaded[alias] and not package.searchpath(alias, package.path) then
    return ('\n\tno file for %s (socket2.ngx looked for %s)'):format(name, alias)
  end
  return function() return require(alias) end -- one module under both names
end
loaders[#loaders + 1] = resty_alias

-- OpenSSL's symbols in ffi.C, as in nginx (lua-resty-string's md5, sha*,
-- aes and random call them there); without libcrypto those say so when used
sys.crypto()

if rawget(_G, 'ngx') == nil then rawset(_G, 'ngx', ngx) end

return ngx
