-- fuzz/tls_target.lua: the 'tls' fuzz target (loaded by fuzz/lua_targets.lua).
-- The input is what a peer sends: it is fed as ciphertext, in chunks the
-- input's first byte chooses, to a socket2.tls engine over a fake transport
-- (no sockets, no loop): a server engine (first byte even) or a client one
-- (odd). Whatever arrives, every call must end with a result or with
-- nil, msg, code where code is one the API documents: never a Lua error,
-- a crash, a hang or plaintext from a connection that failed.
local ffi = require'ffi'
local ok_tls, tls = pcall(require, 'socket2.tls')

-- a test-only key and self-signed certificate (made for this file)
local CERT = [[
-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIURbswsSPlnBkGP/FKPOjoBnYRz/IwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJZnV6ei50ZXN0MCAXDTI2MTIwNjA3Mjg1MVoYDzIxMjYxMTEy
MDcyODUxWjAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT8Bee54eIVhWEv/YLm5ByOpRhxWWikIisNtyYCsOjyg5G/lwdsBifW
fdxOqaVVeN7BEuitPCH7xEV5F4zfcDPNo1MwUTAdBgNVHQ4EFgQUwLPniT4anDci
AFcKG4peuzyxb2YwHwYDVR0jBBgwFoAUwLPniT4anDciAFcKG4peuzyxb2YwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAlEtyrhrMCEVg/QVOF1X0
1Y2s2tmJKqYvsuCNTFfoq18CIHS2S/x3T9ENtKUJ+V30OIlcHt38Km+Knbq3jwWa
a71A
-----END CERTIFICATE-----
]]
local KEY = [[
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCQ6zswYmePOpwkVb
epR3cIxxX/56V9gGtewiK2isiCyhRANCAAT8Bee54eIVhWEv/YLm5ByOpRhxWWik
IisNtyYCsOjyg5G/lwdsBifWfdxOqaVVeN7BEuitPCH7xEV5F4zfcDPN
-----END PRIVATE KEY-----
]]

local CODES = {ETLSPROTO = true, ETLSALERT = true, ETLSTRUNC = true, ETLSVERIFY = true, ECONNRESET = true}

local fake = {}
fake.__index = fake
function fake:recv(buf, len)
  local left = #self.data - self.pos + 1
  if left <= 0 then return 0 end
  self.seed = (self.seed * 1103515245 + 12345) % 2147483648
  local n = math.min(len, left, self.big and 1 + self.seed % 20000 or 1 + self.seed % 300)
  ffi.copy(buf, ffi.cast('const char*', self.data) + self.pos - 1, n)
  self.pos = self.pos + n
  return n
end
function fake:sendall(_, len) self.sent = self.sent + len; return len end
function fake:settimeout() return true end
function fake:gettimeout() return nil end
function fake:getpeername() return nil end
function fake:cancel() return 0 end
function fake:closed() return self._closed end
function fake:close() self._closed = true; return true end
function fake:shutdown() return true end

local sctx, cctx
local buf = ffi.new'uint8_t[4096]'

local function check(what, r1, r2, r3)
  if r1 == nil and not CODES[r3] then
    error(('%s: unexpected failure %s %s'):format(what, tostring(r2), tostring(r3)), 0)
  end
end

return function(data)
  if not ok_tls or not tls.available() then return end
  if not sctx then
    sctx = assert(tls.context{server = true, cert = CERT, key = KEY, alpn = {'h2', 'http/1.1'}})
    cctx = assert(tls.context{verify = false, alpn = {'h2'}})
  end
  local b = data:byte(1) or 0
  local t = setmetatable({data = data:sub(2), pos = 1, seed = b, big = b % 4 >= 2, sent = 0, _closed = false}, fake)
  local ts = tls._engine(t, b % 2 == 0 and sctx or cctx, b % 2 == 1 and {host = 'fuzz.test'} or nil)
  local ok, err, code = ts:handshake()
  check('handshake', ok, err, code)
  local failed = not ok
  for _ = 1, 1000 do
    local n, e, c = ts:recv(buf, 4096)
    check('recv', n, e, c)
    if failed and n then error('plaintext after a failed handshake', 0) end
    if not n or n == 0 then break end
  end
  ts:close()
  if not t._closed then error('close() left the transport open', 0) end
end
