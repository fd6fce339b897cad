-- socket2/ngx/misc.lua: the ngx.* helpers that do no I/O, after
-- lua-nginx-module's README (the sections named by each function):
-- base64, URI escaping, digests (libcrypto through the FFI, loaded on first
-- use), CRC-32 (in Lua), time, and ngx.log with its level constants.
local ffi = require'ffi'
local bit = require'bit'
local sys = require'socket2.compat.sys'
local conf = require'socket2.ngx.conf'

local band, bor, bxor, rshift, lshift = bit.band, bit.bor, bit.bxor, bit.rshift, bit.lshift
local byte, char, sub, format, gsub = string.byte, string.char, string.sub, string.format, string.gsub
local concat, type, tostring, tonumber, error, floor = table.concat, type, tostring, tonumber, error, math.floor

local M = {}

local function str_arg(v, fname, argn)
  local t = type(v)
  if t == 'string' then return v end
  if t == 'number' then return tostring(v) end
  if t == 'nil' and argn == 1 then return '' end
  error(('bad argument #%d to \'%s\' (string expected, got %s)'):format(argn, fname, t), 3)
end

-- base64 ------------------------------------------------------------------------

local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local enc = {}
for i = 0, 63 do enc[i] = sub(B64, i + 1, i + 1) end
local dec = {}
for i = 0, 63 do dec[byte(B64, i + 1)] = i end

function M.encode_base64(s, no_padding)
  s = str_arg(s, 'encode_base64', 1)
  local out, n, len = {}, 0, #s
  for i = 1, len - 2, 3 do
    local a, b, c = byte(s, i, i + 2)
    local v = a * 65536 + b * 256 + c
    n = n + 1
    out[n] = enc[rshift(v, 18)] .. enc[band(rshift(v, 12), 63)] .. enc[band(rshift(v, 6), 63)] .. enc[band(v, 63)]
  end
  local rest = len % 3
  if rest == 1 then
    local a = byte(s, len)
    n = n + 1
    out[n] = enc[rshift(a, 2)] .. enc[lshift(band(a, 3), 4)] .. (no_padding and '' or '==')
  elseif rest == 2 then
    local a, b = byte(s, len - 1, len)
    local v = a * 256 + b
    n = n + 1
    out[n] = enc[rshift(v, 10)] .. enc[band(rshift(v, 4), 63)] .. enc[lshift(band(v, 15), 2)]
      .. (no_padding and '' or '=')
  end
  return concat(out, '', 1, n)
end

-- nil when s is not well-formed base64 (padding may be left out)
function M.decode_base64(s)
  if type(s) ~= 'string' then
    error(('bad argument #1 to \'decode_base64\' (string expected, got %s)'):format(type(s)), 2)
  end
  local len = #s
  while len > 0 and byte(s, len) == 61 do len = len - 1 end -- '='
  if #s - len > 2 or len % 4 == 1 then return nil end
  local out, n = {}, 0
  local acc, bits = 0, 0
  for i = 1, len do
    local v = dec[byte(s, i)]
    if not v then return nil end
    acc = bor(lshift(band(acc, 0xffff), 6), v)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      n = n + 1
      out[n] = char(band(rshift(acc, bits), 255))
    end
  end
  return concat(out, '', 1, n)
end

-- URIs ------------------------------------------------------------------------------

-- type 2 (default): a URI component: all but A-Z a-z 0-9 - . _ ~ ! ' ( ) *;
-- type 0: a whole URI: space, #, %, ?, controls and bytes >= 0x7f
local function pct(c) return format('%%%02X', byte(c)) end
function M.escape_uri(s, typ)
  s = str_arg(s, 'escape_uri', 1)
  if typ == nil or typ == 2 then
    return (gsub(s, "[^%w%-%._~!'%(%)%*]", pct))
  elseif typ == 0 then
    return (gsub(s, '[%z\1-\32#%%%?\127-\255]', pct))
  end
  error('bad argument #2 to \'escape_uri\' (type must be 0 or 2)', 2)
end

local function unhex(h) return char(tonumber(h, 16)) end
function M.unescape_uri(s)
  s = str_arg(s, 'unescape_uri', 1)
  s = gsub(s, '+', ' ')
  return (gsub(s, '%%(%x%x)', unhex))
end

function M.encode_args(t)
  if type(t) ~= 'table' then error('bad argument #1 to \'encode_args\' (table expected)', 2) end
  local out = {}
  for k, v in pairs(t) do
    k = M.escape_uri(tostring(k))
    if v == true then out[#out + 1] = k
    elseif type(v) == 'table' then
      for i = 1, #v do
        if v[i] == true then out[#out + 1] = k
        elseif v[i] then out[#out + 1] = k .. '=' .. M.escape_uri(tostring(v[i])) end
      end
    elseif v then out[#out + 1] = k .. '=' .. M.escape_uri(tostring(v)) end
  end
  return concat(out, '&')
end

function M.decode_args(s, max)
  s = str_arg(s, 'decode_args', 1)
  if type(max) == 'nil' then max = 100 end
  if type(max) ~= 'number' or max ~= max then
    error(('bad argument #2 to \'decode_args\' (number expected, got %s)'):format(type(max)), 2)
  end
  local t, n = {}, 0
  for pair in s:gmatch'[^&]+' do
    n = n + 1
    if max > 0 and n > max then break end
    local k, v = pair:match'^([^=]*)=(.*)$'
    if k then k, v = M.unescape_uri(k), M.unescape_uri(v) else k, v = M.unescape_uri(pair), true end
    local old = t[k]
    if old == nil then t[k] = v
    elseif type(old) == 'table' then old[#old + 1] = v
    else t[k] = {old, v} end
  end
  return t
end

function M.quote_sql_str(s)
  s = str_arg(s, 'quote_sql_str', 1)
  return "'" .. gsub(s, "[%z\b\n\r\t\26\\'\"]", {
    ['\0'] = '\\0', ['\b'] = '\\b', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t', ['\26'] = '\\Z',
    ['\\'] = '\\\\', ["'"] = "\\'", ['"'] = '\\"'}) .. "'"
end

-- digests ---------------------------------------------------------------------------

local mdbuf = ffi.new'unsigned char[64]'
local mdlen = ffi.new'unsigned int[1]'

local function crypto_or_raise(fname)
  local lib, err = sys.crypto()
  if not lib then error(fname .. ': ' .. err, 3) end
  return lib
end

local function digest(s, which, fname)
  s = str_arg(s, fname, 1)
  local lib = crypto_or_raise(fname)
  if lib.EVP_Digest(s, #s, mdbuf, mdlen, which == 'md5' and lib.EVP_md5() or lib.EVP_sha1(), nil) ~= 1 then
    error(fname .. ': EVP_Digest failed', 3)
  end
  return ffi.string(mdbuf, mdlen[0])
end

local function hex(s) return (gsub(s, '.', function(c) return format('%02x', byte(c)) end)) end

function M.md5_bin(s) return digest(s, 'md5', 'md5_bin') end
function M.md5(s) return hex(digest(s, 'md5', 'md5')) end
function M.sha1_bin(s) return digest(s, 'sha1', 'sha1_bin') end

function M.hmac_sha1(key, s)
  key = str_arg(key, 'hmac_sha1', 1)
  s = str_arg(s, 'hmac_sha1', 2)
  local lib = crypto_or_raise('hmac_sha1')
  if lib.HMAC(lib.EVP_sha1(), key, #key, s, #s, mdbuf, mdlen) == nil then error('hmac_sha1: HMAC failed', 2) end
  return ffi.string(mdbuf, mdlen[0])
end

-- CRC-32 (IEEE 802.3, zlib's), a table per byte
local crc_t = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) ~= 0 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
  end
  crc_t[i] = c
end
local function crc32(s, fname)
  s = str_arg(s, fname, 1)
  local c = 0xffffffff
  for i = 1, #s do
    c = bxor(crc_t[band(bxor(c, byte(s, i)), 255)], rshift(c, 8))
  end
  c = bxor(c, 0xffffffff)
  if c < 0 then c = c + 4294967296 end
  return c
end
function M.crc32_short(s) return crc32(s, 'crc32_short') end
function M.crc32_long(s) return crc32(s, 'crc32_long') end

-- time --------------------------------------------------------------------------------

function M.now() return floor(sys.now() * 1000) / 1000 end
function M.time() return floor(sys.now()) end
function M.update_time() end
function M.today() return os.date('%Y-%m-%d') end
function M.localtime() return os.date('%Y-%m-%d %H:%M:%S') end
function M.utctime() return os.date('!%Y-%m-%d %H:%M:%S') end
function M.http_time(t)
  if type(t) ~= 'number' then error('bad argument #1 to \'http_time\' (number expected)', 2) end
  return os.date('!%a, %d %b %Y %H:%M:%S GMT', floor(t))
end
function M.cookie_time(t)
  if type(t) ~= 'number' then error('bad argument #1 to \'cookie_time\' (number expected)', 2) end
  return os.date('!%a, %d-%b-%y %H:%M:%S GMT', floor(t))
end
local MONTHS = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
                Nov = 11, Dec = 12}
-- days since 1970-01-01 of a civil date (proleptic Gregorian)
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
function M.parse_http_time(s)
  if type(s) ~= 'string' then return nil end
  local d, mon, y, H, Mi, S = s:match'^%a+, (%d%d?)[ %-](%a%a%a)[ %-](%d+) (%d%d):(%d%d):(%d%d) GMT$'
  if not d then return nil end
  local m = MONTHS[mon]
  if not m then return nil end
  y = tonumber(y)
  if y < 100 then y = y + (y < 70 and 2000 or 1900) end
  return days_from_civil(y, m, tonumber(d)) * 86400 + tonumber(H) * 3600 + tonumber(Mi) * 60 + tonumber(S)
end

-- log -------------------------------------------------------------------------------

M.levels = {STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8}
local level_names = {[0] = 'stderr', 'emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'}

local null -- set by socket2.ngx
function M.set_null(v) null = v end

-- The message of ngx.log / print: arguments joined (nil -> "nil", booleans,
-- ngx.null -> "null", tables with __tostring)
local function message(fname, first, ...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    local t = type(v)
    if t == 'string' then parts[i] = v
    elseif t == 'number' or t == 'boolean' or t == 'nil' then parts[i] = tostring(v)
    elseif v == null then parts[i] = 'null'
    elseif t == 'table' and getmetatable(v) and getmetatable(v).__tostring then parts[i] = tostring(v)
    else
      error(('bad argument #%d to \'%s\' (expected table to have __tostring metamethod)'):format(i + first, fname), 3)
    end
  end
  return concat(parts, '', 1, n)
end
M.message = message

function M.log(level, ...)
  if type(level) ~= 'number' or level < 0 or level > 8 or level ~= floor(level) then
    error('bad log level', 2)
  end
  local msg = message('log', 1, ...)
  if level > conf.log_level then return end
  if conf.log then return conf.log(level, msg) end
  local info = debug.getinfo(2, 'Sl')
  local where = info and (info.short_src .. ':' .. (info.currentline or 0) .. ': ') or ''
  io.stderr:write(os.date('%Y/%m/%d %H:%M:%S'), ' [', level_names[level], '] ', sys.getpid(), '#0: [lua] ',
    where, msg, '\n')
end

-- ngx.say / ngx.print outside a request: standard output, as OpenResty's
-- `resty` command line does. Arguments: as ngx.log's, and (nested) arrays
-- of them.
local function output(fname, ...)
  local parts, n = {}, select('#', ...)
  local function add(v, depth)
    if type(v) == 'table' and not (getmetatable(v) and getmetatable(v).__tostring) then
      if depth > 100 then error(('bad argument to \'%s\' (tables nested too deep)'):format(fname), 4) end
      for i = 1, #v do add(v[i], depth + 1) end
    else
      parts[#parts + 1] = message(fname, 0, v)
    end
  end
  for i = 1, n do add((select(i, ...)), 0) end
  return concat(parts)
end
function M.print(...)
  io.stdout:write(output('print', ...))
  return 1
end
function M.say(...)
  io.stdout:write(output('say', ...), '\n')
  return 1
end
function M.flush() io.stdout:flush(); return 1 end

return M
