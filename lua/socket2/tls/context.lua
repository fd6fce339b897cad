-- socket2/tls/context.lua: tls.context(opts) -> ctx, an SSL_CTX with its
-- options checked and applied. Misuse (an unknown option, a wrong type)
-- raises; what OpenSSL refuses (a missing file, a key that does not match
-- its certificate, an empty cipher list) returns nil, msg, 'ETLSCONFIG'.
--
-- The callbacks OpenSSL offers no other way to do (server ALPN selection,
-- SNI, keylog) are three module-wide ffi.cast callbacks shared by every
-- context (so no callback slot is used per context, none is leaked): the
-- context is found from the arg pointer (an id) or from the SSL_CTX. They
-- run only inside SSL_do_handshake, which engine.lua calls from a function
-- the JIT never compiles (LuaJIT cannot enter a callback from a trace).
local ffi = require'ffi'
local bit = require'bit'
local lib = require'socket2.tls.lib'
local errors = require'socket2.errors'

local SSL, CR = lib.ssl, lib.crypto

local M = {}

local ctx_mt = {__index = {}}
ctx_mt.__tostring = function(c) return 'socket2.tls context: ' .. (c.server and 'server' or 'client') end
M.ctx_mt = ctx_mt

function M.is_ctx(v) return getmetatable(v) == ctx_mt end

-- OpenSSL's error queue -> one message (the queue is left empty).
local errbuf = ffi.new'char[256]'
function M.ossl_error(default)
  local msg
  while true do
    local e = CR.ERR_get_error()
    if e == 0 then break end
    if not msg then
      CR.ERR_error_string_n(e, errbuf, 256)
      local s = ffi.string(errbuf)
      -- 'error:0A00018E:SSL routines::ca md too weak' -> the reason
      msg = s:match'^error:%x+:[^:]*:[^:]*:(.*)$' or s
    end
  end
  return msg or default
end
local ossl_error = M.ossl_error

local function config_fail(what, detail)
  return errors.fail('ETLSCONFIG', what .. ': ' .. detail)
end

-- options --------------------------------------------------------------------

local OPTIONS = {
  server = 'boolean', verify = 'boolean', ca = 'string|table', cert = 'string', key = 'string',
  password = 'string', alpn = 'table', alpn_strict = 'boolean', verify_client = 'false|string',
  sni = 'table|function', min_version = 'string', max_version = 'string', ciphers = 'string',
  ciphersuites = 'string', session_cache = 'number|false', ticket_keys = 'string',
  ragged_eof = 'boolean', keylog = 'string',
}

local function check_options(opts)
  if type(opts) ~= 'nil' and type(opts) ~= 'table' then
    errors.arg('context', 1, 'options table expected, got ' .. type(opts))
  end
  opts = opts or {}
  for k, v in pairs(opts) do
    local want = type(k) == 'string' and OPTIONS[k]
    if not want then errors.arg('context', 1, ('unknown option \'%s\''):format(tostring(k))) end
    local t = type(v)
    local ok = false
    for w in want:gmatch'[^|]+' do
      if w == t or (w == 'false' and v == false) then ok = true end
    end
    if not ok then errors.arg('context', 1, ('option \'%s\' must be %s, got %s'):format(k, want:gsub('|', ' or '), t)) end
    if t == 'string' and v:find('\0', 1, true) and k ~= 'ticket_keys' then
      errors.arg('context', 1, ('option \'%s\' contains a NUL byte'):format(k))
    end
  end
  local function one_of(name, set)
    local v = opts[name]
    if v ~= nil and not set[v] then
      local names = {}
      for n in pairs(set) do names[#names + 1] = ('\'%s\''):format(tostring(n)) end
      table.sort(names)
      errors.arg('context', 1, ('option \'%s\' must be one of %s'):format(name, table.concat(names, ', ')))
    end
  end
  one_of('verify_client', {[false] = true, optional = true, require = true})
  one_of('min_version', lib.VERSIONS)
  one_of('max_version', lib.VERSIONS)
  if opts.alpn then
    if #opts.alpn == 0 then errors.arg('context', 1, 'option \'alpn\' must be a non-empty list of names') end
    for i, p in pairs(opts.alpn) do
      if type(i) ~= 'number' or type(p) ~= 'string' or #p == 0 or #p > 255 then
        errors.arg('context', 1, 'option \'alpn\' must be a list of protocol names of 1..255 bytes')
      end
    end
  end
  local sc = opts.session_cache
  if sc and (sc ~= sc or sc < 0 or sc ~= math.floor(sc) or sc > 0x7fffffff) then
    errors.arg('context', 1, 'option \'session_cache\' must be an integer >= 0 or false')
  end
  if opts.ticket_keys and #opts.ticket_keys ~= 80 then
    errors.arg('context', 1, 'option \'ticket_keys\' must be 80 bytes')
  end
  if opts.sni then
    if not opts.server then errors.arg('context', 1, 'option \'sni\' is for server contexts') end
    if type(opts.sni) == 'table' then
      for name, c in pairs(opts.sni) do
        if type(name) ~= 'string' or not M.is_ctx(c) or not c.server then
          errors.arg('context', 1, 'option \'sni\' must map host names to server contexts')
        end
      end
    end
  end
  if opts.server and opts.cert == nil then errors.arg('context', 1, 'a server context needs \'cert\' and \'key\'') end
  if (opts.cert == nil) ~= (opts.key == nil) then errors.arg('context', 1, '\'cert\' and \'key\' go together') end
  if type(opts.ca) == 'table' then
    for _, v in pairs(opts.ca) do
      if type(v) ~= 'string' or v:find('\0', 1, true) then
        errors.arg('context', 1, 'option \'ca\' must be a file, a directory, PEM text, or a list of them')
      end
    end
  end
  return opts
end

-- PEM: a file name or the PEM text itself ------------------------------------

local function is_pem(s) return s:find('-----BEGIN ', 1, true) ~= nil end

-- The PEM text of v (read from the file v unless v is PEM): text, or nil,
-- why, is_dir.
local function pem_text(v)
  if is_pem(v) then return v end
  local f, err = io.open(v, 'rb')
  if not f then return nil, err end
  local s, rerr = f:read'*a'
  f:close()
  if not s then return nil, tostring(rerr), true end -- (a directory opens, but does not read)
  return s
end

local function mem_bio(s)
  local b = CR.BIO_new_mem_buf(s, #s)
  if b == nil then error('socket2.tls: out of memory', 0) end
  return ffi.gc(b, CR.BIO_free)
end

-- every certificate in a PEM text: a list of X509* (owned by the caller)
local function read_certs(text)
  local b = mem_bio(text)
  local t = {}
  while true do
    local x = CR.PEM_read_bio_X509(b, nil, nil, nil)
    if x == nil then break end
    t[#t + 1] = x
  end
  CR.ERR_clear_error() -- the end of the text leaves "no start line"
  return t
end

local function load_cert_key(c, opts)
  local text, err = pem_text(opts.cert)
  if not text then return config_fail('cert', err) end
  local certs = read_certs(text)
  if #certs == 0 then return config_fail('cert', 'no certificate in ' .. (is_pem(opts.cert) and 'the PEM text' or opts.cert)) end
  local ok = SSL.SSL_CTX_use_certificate(c, certs[1]) == 1
  CR.X509_free(certs[1])
  for i = 2, #certs do
    -- SSL_CTX_add0_chain_cert: the context takes the reference
    if ok and SSL.SSL_CTX_ctrl(c, 89, 0, certs[i]) ~= 1 then ok = false; CR.X509_free(certs[i])
    elseif not ok then CR.X509_free(certs[i]) end
  end
  if not ok then return config_fail('cert', ossl_error'refused') end
  local ktext
  ktext, err = pem_text(opts.key)
  if not ktext then return config_fail('key', err) end
  -- with no callback, OpenSSL takes u as the password; '' (never NULL, which
  -- would prompt on the terminal) makes an encrypted key without one fail
  local pkey = CR.PEM_read_bio_PrivateKey(mem_bio(ktext), nil, nil, ffi.cast('void*', opts.password or ''))
  if pkey == nil then
    return config_fail('key', ossl_error'no private key' .. (opts.password and '' or ' (encrypted key without password?)'))
  end
  ok = SSL.SSL_CTX_use_PrivateKey(c, pkey) == 1
  CR.EVP_PKEY_free(pkey)
  if not ok or SSL.SSL_CTX_check_private_key(c) ~= 1 then
    ossl_error()
    return config_fail('key', 'the key does not match the certificate')
  end
  return true
end

-- Windows keeps its trusted roots in system stores, not in a file: they are
-- read through crypt32 (ROOT and CA), as CPython's load_default_certs does.
local function windows_roots(store)
  local ok, crypt32 = pcall(function()
    pcall(ffi.cdef, [[
      typedef struct s2_CERT_CONTEXT { uint32_t dwCertEncodingType; uint8_t *pbCertEncoded;
        uint32_t cbCertEncoded; void *pCertInfo; void *hCertStore; } s2_CERT_CONTEXT;
      void *CertOpenSystemStoreA(uintptr_t hProv, const char *szSubsystemProtocol);
      const s2_CERT_CONTEXT *CertEnumCertificatesInStore(void *hCertStore, const s2_CERT_CONTEXT *prev);
      int CertCloseStore(void *hCertStore, uint32_t dwFlags);
    ]])
    return ffi.load'crypt32'
  end)
  if not ok then return 0 end
  local n = 0
  local pp = ffi.new'const unsigned char*[1]'
  for _, name in ipairs{'ROOT', 'CA'} do
    local h = crypt32.CertOpenSystemStoreA(0, name)
    if h ~= nil then
      local cc = crypt32.CertEnumCertificatesInStore(h, nil)
      while cc ~= nil do
        if cc.dwCertEncodingType == 1 then -- X509_ASN_ENCODING
          pp[0] = cc.pbCertEncoded
          local x = CR.d2i_X509(nil, pp, cc.cbCertEncoded)
          if x ~= nil then
            if CR.X509_STORE_add_cert(store, x) == 1 then n = n + 1 end
            CR.X509_free(x)
          end
        end
        cc = crypt32.CertEnumCertificatesInStore(h, cc)
      end
      crypt32.CertCloseStore(h, 0)
    end
  end
  CR.ERR_clear_error() -- (duplicates are refused with an error)
  return n
end

local function load_ca(c, ca)
  if ca == nil then
    SSL.SSL_CTX_set_default_verify_paths(c)
    if ffi.os == 'Windows' then windows_roots(SSL.SSL_CTX_get_cert_store(c)) end
    CR.ERR_clear_error()
    return true
  end
  local store = SSL.SSL_CTX_get_cert_store(c)
  for _, v in ipairs(type(ca) == 'table' and ca or {ca}) do
    local text, err, is_dir = pem_text(v)
    if text then
      local certs = read_certs(text)
      if #certs == 0 then return config_fail('ca', 'no certificate in ' .. (is_pem(v) and 'the PEM text' or v)) end
      for _, x in ipairs(certs) do
        CR.X509_STORE_add_cert(store, x) -- (a duplicate is refused: harmless)
        CR.X509_free(x)
      end
      CR.ERR_clear_error()
    elseif is_dir then -- a hashed directory (c_rehash)
      if SSL.SSL_CTX_load_verify_locations(c, nil, v) ~= 1 then return config_fail('ca', ossl_error(v)) end
    else
      return config_fail('ca', err)
    end
  end
  return true
end

-- callbacks ------------------------------------------------------------------

local by_id = setmetatable({}, {__mode = 'v'}) -- id -> ctx
local by_addr = setmetatable({}, {__mode = 'v'}) -- SSL_CTX address -> ctx (keylog)
local next_id = 0
local function addr_of(p) return tonumber(ffi.cast('uintptr_t', p)) end
local function ctx_of_arg(arg) return by_id[tonumber(ffi.cast('uintptr_t', arg))] end

local alpn_cb, sni_cb, keylog_cb

-- server ALPN: the first protocol of ours (preference order) the client offers
local function alpn_select(_, out, outlen, inp, inlen, arg)
  local c = ctx_of_arg(arg)
  if not c then return lib.SSL_TLSEXT_ERR_NOACK end
  local r = SSL.SSL_select_next_proto(ffi.cast('unsigned char**', out), outlen, c.alpn_wire, #c.alpn_wire, inp, inlen)
  if r == 1 then return lib.SSL_TLSEXT_ERR_OK end -- OPENSSL_NPN_NEGOTIATED
  return c.alpn_strict and lib.SSL_TLSEXT_ERR_ALERT_FATAL or lib.SSL_TLSEXT_ERR_NOACK
end

-- server SNI: switch the connection to the context for the name
local function sni_select(ssl, _, arg)
  local c = ctx_of_arg(arg)
  if not c then return lib.SSL_TLSEXT_ERR_OK end
  local p = SSL.SSL_get_servername(ssl, 0)
  if p == nil then return lib.SSL_TLSEXT_ERR_OK end -- no SNI: the default certificate
  local name = lib.cstring(p):lower()
  local sub
  if type(c.sni) == 'table' then
    sub = c.sni[name]
  else
    local ok, r = pcall(c.sni, name)
    if not ok then
      io.stderr:write('socket2.tls: the sni function raised: ', tostring(r), '\n')
      return lib.SSL_TLSEXT_ERR_ALERT_FATAL
    end
    if r ~= nil and not (M.is_ctx(r) and r.server) then
      io.stderr:write('socket2.tls: the sni function returned no server context\n')
      return lib.SSL_TLSEXT_ERR_ALERT_FATAL
    end
    sub = r
  end
  if sub and sub ~= c then
    if SSL.SSL_set_SSL_CTX(ssl, sub.ptr) == nil then return lib.SSL_TLSEXT_ERR_ALERT_FATAL end
    c.sni_keep[sub] = true -- a context a function made lives as long as this one
  end
  return lib.SSL_TLSEXT_ERR_OK
end

local function keylog_line(ssl, line)
  local c = by_addr[addr_of(SSL.SSL_get_SSL_CTX(ssl))]
  if not c or not c.keylog then return end
  local f = io.open(c.keylog, 'ab')
  if f then f:write(lib.cstring(line), '\n'); f:close() end
end

local function init_callbacks()
  if alpn_cb then return end
  alpn_cb = ffi.cast('int (*)(SSL *, const unsigned char **, unsigned char *, const unsigned char *, unsigned int, void *)',
    alpn_select)
  sni_cb = ffi.cast('int (*)(SSL *, int *, void *)', sni_select)
  keylog_cb = ffi.cast('void (*)(const SSL *, const char *)', keylog_line)
  M._callbacks = {alpn_cb, sni_cb, keylog_cb} -- anchored for the life of the module
end

-- the context -----------------------------------------------------------------

local function alpn_wire(list)
  local t = {}
  for i, p in ipairs(list) do t[i] = string.char(#p) .. p end
  return table.concat(t)
end

function M.new(opts)
  opts = check_options(opts)
  local server = opts.server == true
  local raw = SSL.SSL_CTX_new(SSL.TLS_method())
  if raw == nil then return errors.fail('ETLSCONFIG', ossl_error'SSL_CTX_new failed') end
  -- the client sessions kept for resumption (engine.lua) go with the context
  -- (the finalizer holds the cache, never the context: it would keep it alive)
  local cache = {}
  local c = ffi.gc(raw, function(p)
    for k, sess in pairs(cache) do cache[k] = nil; SSL.SSL_SESSION_free(sess) end
    SSL.SSL_CTX_free(p)
  end)
  next_id = next_id + 1
  local ctx = setmetatable({
    ptr = c, id = next_id, server = server,
    verify = not server and opts.verify ~= false,
    alpn = opts.alpn, alpn_wire = opts.alpn and alpn_wire(opts.alpn), alpn_strict = opts.alpn_strict,
    sni = opts.sni, sni_keep = setmetatable({}, {__mode = 'k'}),
    ragged_eof = opts.ragged_eof == true,
    keylog = opts.keylog,
    cache_max = server and 0 or (opts.session_cache == nil and 32 or opts.session_cache or 0),
    cache = cache, ncache = 0, -- client sessions by 'host:port[:alpn]' (tls.lua)
    ticket_keys = opts.ticket_keys,
  }, ctx_mt)
  by_id[ctx.id] = ctx
  local idp = ffi.cast('void*', ffi.cast('uintptr_t', ctx.id))

  -- TLS 1.2 at least; no renegotiation (a peer's request gets the
  -- no_renegotiation alert); no compression
  SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_MIN_PROTO_VERSION, lib.VERSIONS[opts.min_version or 'tls1.2'], nil)
  if opts.max_version then SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_MAX_PROTO_VERSION, lib.VERSIONS[opts.max_version], nil) end
  local op = bit.bor(lib.OP_NO_RENEGOTIATION, lib.OP_NO_COMPRESSION)
  if ctx.ragged_eof then op = bit.bor(op, lib.OP_IGNORE_UNEXPECTED_EOF) end
  SSL.SSL_CTX_set_options(c, op)
  SSL.SSL_CTX_ctrl(c, lib.CTRL_MODE, lib.MODE_ACCEPT_MOVING_WRITE_BUFFER, nil)

  if opts.ciphers and SSL.SSL_CTX_set_cipher_list(c, opts.ciphers) ~= 1 then
    return config_fail('ciphers', ossl_error'no cipher matches')
  end
  if opts.ciphersuites and SSL.SSL_CTX_set_ciphersuites(c, opts.ciphersuites) ~= 1 then
    return config_fail('ciphersuites', ossl_error'no cipher suite matches')
  end
  if opts.cert then
    local ok, err, code = load_cert_key(c, opts)
    if not ok then return nil, err, code end
  end
  -- who verifies what: a client its server (unless verify = false, when
  -- the result is only recorded: ts:verify_result()); a server its clients
  -- when verify_client asks for a certificate
  local vmode = lib.SSL_VERIFY_NONE
  if server then
    if opts.verify_client == 'require' then
      vmode = lib.SSL_VERIFY_PEER + lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    elseif opts.verify_client == 'optional' then
      vmode = lib.SSL_VERIFY_PEER
    end
  elseif ctx.verify then
    vmode = lib.SSL_VERIFY_PEER
  end
  SSL.SSL_CTX_set_verify(c, vmode, nil)
  if not server or opts.verify_client or opts.ca then
    local ok, err, code = load_ca(c, opts.ca)
    if not ok then return nil, err, code end
  end

  if server then
    local sid = 'socket2'
    SSL.SSL_CTX_set_session_id_context(c, sid, #sid)
    -- resumption by tickets (stateless: nothing kept per session, as
    -- nginx's default); session_cache = n also keeps n sessions in
    -- OpenSSL's cache (for TLS 1.2 clients that resume by session ID)
    local sc = opts.session_cache
    if sc == false or sc == 0 then
      SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_SESS_CACHE_MODE, 0, nil)
      SSL.SSL_CTX_set_options(c, lib.OP_NO_TICKET)
    elseif sc then
      SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_SESS_CACHE_SIZE, sc, nil)
    else
      SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_SESS_CACHE_MODE, 0x0302, nil) -- SERVER | NO_INTERNAL
    end
    if opts.ticket_keys then
      SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_TLSEXT_TICKET_KEYS, 80, ffi.cast('void*', opts.ticket_keys))
    end
  else
    -- client sessions are kept by engine.lua (one use each), not by OpenSSL
    SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_SESS_CACHE_MODE, 0, nil)
  end

  if opts.alpn or opts.sni or opts.keylog then init_callbacks() end
  if opts.alpn then
    if server then
      SSL.SSL_CTX_set_alpn_select_cb(c, alpn_cb, idp)
    elseif SSL.SSL_CTX_set_alpn_protos(c, ctx.alpn_wire, #ctx.alpn_wire) ~= 0 then -- (0 is success)
      return config_fail('alpn', ossl_error'refused')
    end
  end
  if opts.sni then
    SSL.SSL_CTX_callback_ctrl(c, lib.CTRL_SET_TLSEXT_SERVERNAME_CB, ffi.cast('void (*)(void)', sni_cb))
    SSL.SSL_CTX_ctrl(c, lib.CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, idp)
  end
  if opts.keylog then
    by_addr[addr_of(c)] = ctx
    SSL.SSL_CTX_set_keylog_callback(c, keylog_cb)
  end
  CR.ERR_clear_error()
  return ctx
end

return M
