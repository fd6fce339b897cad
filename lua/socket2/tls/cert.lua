-- socket2/tls/cert.lua: what a certificate says, as a Lua table (the
-- subject and issuer, the validity period in UTC seconds, the names and
-- addresses it is for, its DER bytes), read through OpenSSL's accessors.
local ffi = require'ffi'
local lib = require'socket2.tls.lib'

local CR, cstring = lib.crypto, lib.cstring
local buf_ct = ffi.typeof'uint8_t[?]'

local M = {}

local namebuf = ffi.new'char[1024]'
local function name_of(n)
  if n == nil then return nil end
  CR.X509_NAME_oneline(n, namebuf, 1024)
  return ffi.string(namebuf)
end

local tm = ffi.new'int[16]' -- struct tm: sec, min, hour, mday, mon, year, ...
local function time_of(at)
  if at == nil or CR.ASN1_TIME_to_tm(at, tm) ~= 1 then return nil end
  -- days from the civil date (proleptic Gregorian), UTC
  local y, m, d = tm[5] + 1900, tm[4] + 1, tm[3]
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tm[2] * 3600 + tm[1] * 60 + tm[0]
end

local function ip_string(p, n)
  if n == 4 then return ('%d.%d.%d.%d'):format(p[0], p[1], p[2], p[3]) end
  if n == 16 then
    local t = {}
    for i = 0, 14, 2 do t[#t + 1] = ('%x'):format(p[i] * 256 + p[i + 1]) end
    local s = ':' .. table.concat(t, ':') .. ':'
    -- the longest run of zero groups becomes '::'
    local best, bl = nil, 0
    for run in s:gmatch':0:[0:]*' do if #run > bl then best, bl = run, #run end end
    if best and bl > 3 then s = s:gsub(best:gsub('%p', '%%%0'), '::', 1) end
    s = s:gsub('^:([^:])', '%1'):gsub('([^:]):$', '%1')
    return s
  end
  return nil
end

local function san_of(x)
  local names = {}
  local sk = CR.X509_get_ext_d2i(x, lib.NID_subject_alt_name, nil, nil)
  if sk == nil then return names end
  sk = ffi.cast('OPENSSL_STACK*', sk)
  for i = 0, CR.OPENSSL_sk_num(sk) - 1 do
    local g = ffi.cast('GENERAL_NAME*', CR.OPENSSL_sk_value(sk, i))
    local s = ffi.cast('ASN1_STRING*', g.d)
    local p, n = CR.ASN1_STRING_get0_data(s), CR.ASN1_STRING_length(s)
    if g.type == lib.GEN_DNS or g.type == lib.GEN_EMAIL or g.type == lib.GEN_URI then
      names[#names + 1] = cstring(p, n)
    elseif g.type == lib.GEN_IPADD then
      names[#names + 1] = ip_string(p, n)
    end
  end
  CR.GENERAL_NAMES_free(sk)
  return names
end

-- cert.describe(x) -> {subject, issuer, not_before, not_after, san, der}
-- for an X509* (still owned by the caller)
function M.describe(x)
  local n = CR.i2d_X509(x, nil)
  local der
  if n > 0 then
    local b = buf_ct(n + 16) -- (+16: see lib.cstring)
    CR.i2d_X509(x, ffi.new('unsigned char*[1]', b))
    der = ffi.string(b, n)
  end
  local info = {
    subject = name_of(CR.X509_get_subject_name(x)),
    issuer = name_of(CR.X509_get_issuer_name(x)),
    not_before = time_of(CR.X509_get0_notBefore(x)),
    not_after = time_of(CR.X509_get0_notAfter(x)),
    san = san_of(x),
    der = der,
  }
  CR.ERR_clear_error()
  return info
end

return M
