-- socket2/tls/lib.lua: the OpenSSL 3 surface socket2.tls uses, declared for
-- the FFI, and loading libssl + libcrypto per OS. Opaque types only (no
-- struct fields, no sizeof); the macros of the headers are re-made here as
-- the SSL_ctrl / SSL_CTX_ctrl / BIO_ctrl calls they stand for.
--
-- require'socket2.tls.lib' never raises: it returns a table whose .ok is
-- true, or false with .err (a message) when no usable libssl 3 is found.
-- Names tried: SOCKET2_LIBSSL / SOCKET2_LIBCRYPTO (environment) first, then
--   Linux, BSD: libssl.so.3 / libcrypto.so.3, then the -dev names ssl/crypto
--   Windows:    libssl-3-x64.dll / libcrypto-3-x64.dll (64-bit)
--   macOS:      Homebrew (arm64, x86_64) and MacPorts libssl.3.dylib; never
--               the unversioned system libssl.dylib (the stub aborts the process)
local ffi = require'ffi'

local M = {ok = false}

ffi.cdef[[
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct ssl_session_st SSL_SESSION;
typedef struct ssl_cipher_st SSL_CIPHER;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;
typedef struct x509_st X509;
typedef struct x509_store_st X509_STORE;
typedef struct x509_name_st X509_NAME;
typedef struct X509_VERIFY_PARAM_st X509_VERIFY_PARAM;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct stack_st OPENSSL_STACK;
typedef struct asn1_string_st ASN1_TIME;
typedef struct asn1_string_st ASN1_STRING;
typedef struct asn1_object_st ASN1_OBJECT;
typedef struct GENERAL_NAME_st { int type; void *d; } GENERAL_NAME;
typedef int pem_password_cb(char *buf, int size, int rwflag, void *userdata);

/* libssl */
int OPENSSL_init_ssl(uint64_t opts, const void *settings);
const SSL_METHOD *TLS_method(void);
SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth);
void SSL_CTX_free(SSL_CTX *ctx);
long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg);
long SSL_CTX_callback_ctrl(SSL_CTX *ctx, int cmd, void (*fp)(void));
uint64_t SSL_CTX_set_options(SSL_CTX *ctx, uint64_t op);
void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, void *cb);
void SSL_CTX_set_verify_depth(SSL_CTX *ctx, int depth);
int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx);
int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath);
X509_STORE *SSL_CTX_get_cert_store(const SSL_CTX *ctx);
int SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x);
int SSL_CTX_use_PrivateKey(SSL_CTX *ctx, EVP_PKEY *pkey);
int SSL_CTX_check_private_key(const SSL_CTX *ctx);
int SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *protos, unsigned int protos_len);
void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, int (*cb)(SSL *ssl, const unsigned char **out,
  unsigned char *outlen, const unsigned char *in, unsigned int inlen, void *arg), void *arg);
int SSL_select_next_proto(unsigned char **out, unsigned char *outlen, const unsigned char *server,
  unsigned int server_len, const unsigned char *client, unsigned int client_len);
int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *str);
int SSL_CTX_set_ciphersuites(SSL_CTX *ctx, const char *str);
void SSL_CTX_set_keylog_callback(SSL_CTX *ctx, void (*cb)(const SSL *ssl, const char *line));
int SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *sid_ctx, unsigned int sid_ctx_len);
void SSL_CTX_set_default_passwd_cb_userdata(SSL_CTX *ctx, void *u);
void SSL_CTX_set_client_CA_list(SSL_CTX *ctx, OPENSSL_STACK *list);

SSL *SSL_new(SSL_CTX *ctx);
void SSL_free(SSL *ssl);
long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg);
void SSL_set_bio(SSL *ssl, BIO *rbio, BIO *wbio);
void SSL_set_connect_state(SSL *ssl);
void SSL_set_accept_state(SSL *ssl);
int SSL_do_handshake(SSL *ssl);
int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written);
int SSL_get_error(const SSL *ssl, int ret);
int SSL_pending(const SSL *ssl);
int SSL_shutdown(SSL *ssl);
int SSL_get_shutdown(const SSL *ssl);
int SSL_is_init_finished(const SSL *ssl);
int SSL_set1_host(SSL *ssl, const char *hostname);
X509_VERIFY_PARAM *SSL_get0_param(SSL *ssl);
long SSL_get_verify_result(const SSL *ssl);
void SSL_set_verify(SSL *ssl, int mode, void *cb);
int SSL_set_alpn_protos(SSL *ssl, const unsigned char *protos, unsigned int protos_len);
void SSL_get0_alpn_selected(const SSL *ssl, const unsigned char **data, unsigned int *len);
const char *SSL_get_servername(const SSL *ssl, const int type);
SSL_CTX *SSL_set_SSL_CTX(SSL *ssl, SSL_CTX *ctx);
SSL_CTX *SSL_get_SSL_CTX(const SSL *ssl);
const char *SSL_get_version(const SSL *ssl);
const SSL_CIPHER *SSL_get_current_cipher(const SSL *ssl);
const char *SSL_CIPHER_get_name(const SSL_CIPHER *c);
X509 *SSL_get1_peer_certificate(const SSL *ssl);
int SSL_set_session(SSL *ssl, SSL_SESSION *session);
SSL_SESSION *SSL_get1_session(SSL *ssl);
SSL_SESSION *SSL_get_session(const SSL *ssl);
void SSL_SESSION_free(SSL_SESSION *session);
int SSL_SESSION_is_resumable(const SSL_SESSION *s);
int SSL_session_reused(const SSL *ssl);
int i2d_SSL_SESSION(const SSL_SESSION *in, unsigned char **pp);
SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **pp, long length);
int SSL_key_update(SSL *s, int updatetype);

/* the data path's calls, declared so that nothing they return needs a
   box in the interpreter (a 64-bit integer result or out-value would):
   BIO_ctrl's long result read as int (the low half of the same register,
   and BIO_CTRL_PENDING of a memory BIO is below 2^31), and the size_t
   out-param of SSL_read_ex/SSL_write_ex read as two 32-bit words */
int s2tls_BIO_pending(BIO *bp, int cmd, long larg, void *parg) __asm__("BIO_ctrl");
int s2tls_SSL_read_ex(SSL *ssl, void *buf, size_t num, uint32_t *readbytes) __asm__("SSL_read_ex");
int s2tls_SSL_write_ex(SSL *ssl, const void *buf, size_t num, uint32_t *written) __asm__("SSL_write_ex");

/* libcrypto */
const BIO_METHOD *BIO_s_mem(void);
BIO *BIO_new(const BIO_METHOD *type);
BIO *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(BIO *a);
int BIO_read(BIO *b, void *data, int dlen);
int BIO_write(BIO *b, const void *data, int dlen);
long BIO_ctrl(BIO *bp, int cmd, long larg, void *parg);
size_t BIO_ctrl_pending(BIO *b);
X509 *PEM_read_bio_X509(BIO *bp, X509 **x, pem_password_cb *cb, void *u);
EVP_PKEY *PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u);
void X509_free(X509 *a);
void EVP_PKEY_free(EVP_PKEY *pkey);
int X509_STORE_add_cert(X509_STORE *ctx, X509 *x);
X509 *d2i_X509(X509 **a, const unsigned char **in, long len);
int i2d_X509(X509 *a, unsigned char **out);
X509_NAME *X509_get_subject_name(const X509 *a);
X509_NAME *X509_get_issuer_name(const X509 *a);
char *X509_NAME_oneline(const X509_NAME *a, char *buf, int size);
const ASN1_TIME *X509_get0_notBefore(const X509 *x);
const ASN1_TIME *X509_get0_notAfter(const X509 *x);
int ASN1_TIME_to_tm(const ASN1_TIME *s, void *tm);
void *X509_get_ext_d2i(const X509 *x, int nid, int *crit, int *idx);
void GENERAL_NAMES_free(OPENSSL_STACK *a);
int ASN1_STRING_length(const ASN1_STRING *x);
const unsigned char *ASN1_STRING_get0_data(const ASN1_STRING *x);
int OPENSSL_sk_num(const OPENSSL_STACK *);
void *OPENSSL_sk_value(const OPENSSL_STACK *, int);
OPENSSL_STACK *OPENSSL_sk_new_null(void);
int OPENSSL_sk_push(OPENSSL_STACK *st, const void *data);
X509_NAME *X509_NAME_dup(const X509_NAME *xn);
void X509_NAME_free(X509_NAME *a);
int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *ipasc);
unsigned long ERR_get_error(void);
unsigned long ERR_peek_error(void);
void ERR_clear_error(void);
const char *ERR_reason_error_string(unsigned long e);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
const char *X509_verify_cert_error_string(long n);
void CRYPTO_free(void *ptr, const char *file, int line);
unsigned long OpenSSL_version_num(void);
const char *OpenSSL_version(int type);
int RAND_bytes(unsigned char *buf, int num);
]]

-- constants (OpenSSL 3.0 headers) --------------------------------------------
M.SSL_ERROR_NONE, M.SSL_ERROR_SSL, M.SSL_ERROR_WANT_READ, M.SSL_ERROR_WANT_WRITE = 0, 1, 2, 3
M.SSL_ERROR_SYSCALL, M.SSL_ERROR_ZERO_RETURN = 5, 6
M.SSL_VERIFY_NONE, M.SSL_VERIFY_PEER, M.SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0, 1, 2
M.SSL_SENT_SHUTDOWN, M.SSL_RECEIVED_SHUTDOWN = 1, 2
M.CTRL_MODE = 33                     -- SSL_[CTX_]set_mode
M.MODE_ENABLE_PARTIAL_WRITE, M.MODE_ACCEPT_MOVING_WRITE_BUFFER, M.MODE_RELEASE_BUFFERS = 1, 2, 0x10
M.CTRL_SET_READ_AHEAD = 41
M.CTRL_SET_SESS_CACHE_SIZE = 42
M.CTRL_SET_SESS_CACHE_MODE = 44      -- SSL_SESS_CACHE_OFF 0, CLIENT 1, SERVER 2
M.CTRL_SET_TLSEXT_SERVERNAME_CB = 53
M.CTRL_SET_TLSEXT_SERVERNAME_ARG = 54
M.CTRL_SET_TLSEXT_HOSTNAME = 55
M.CTRL_SET_TLSEXT_TICKET_KEYS = 59
M.CTRL_SET_MIN_PROTO_VERSION, M.CTRL_SET_MAX_PROTO_VERSION = 123, 124
M.BIO_CTRL_PENDING = 10
M.BIO_C_SET_BUF_MEM_EOF_RETURN = 130
M.VERSIONS = {['tls1'] = 0x0301, ['tls1.1'] = 0x0302, ['tls1.2'] = 0x0303, ['tls1.3'] = 0x0304}
M.OP_IGNORE_UNEXPECTED_EOF = 0x80ULL         -- SSL_OP_BIT(7)
M.OP_NO_COMPRESSION = 0x20000ULL             -- SSL_OP_BIT(17)
M.OP_NO_RENEGOTIATION = 0x40000000ULL        -- SSL_OP_BIT(30)
M.OP_NO_TICKET = 0x4000ULL                   -- SSL_OP_BIT(14)
M.SSL_TLSEXT_ERR_OK, M.SSL_TLSEXT_ERR_ALERT_FATAL, M.SSL_TLSEXT_ERR_NOACK = 0, 2, 3
M.NID_subject_alt_name = 85
M.GEN_EMAIL, M.GEN_DNS, M.GEN_URI, M.GEN_IPADD = 1, 2, 6, 7
-- reasons (ERR_GET_REASON) that pick a code other than ETLSPROTO
M.R_CERTIFICATE_VERIFY_FAILED = 134
M.R_PEER_DID_NOT_RETURN_A_CERTIFICATE = 199
M.R_UNEXPECTED_EOF_WHILE_READING = 294
M.R_ALERT_BASE = 1000 -- reasons >= 1000: an alert the peer sent (1000 + alert number)

-- loading --------------------------------------------------------------------

local function try_load(names)
  local errs = {}
  for _, n in ipairs(names) do
    local ok, lib = pcall(ffi.load, n)
    if ok then return lib, n end
    errs[#errs + 1] = n
  end
  return nil, table.concat(errs, ', ')
end

local function candidates(env, list)
  local t = {}
  local e = os.getenv(env)
  if e and e ~= '' then t[1] = e end
  for _, n in ipairs(list) do t[#t + 1] = n end
  return t
end

local SSL_NAMES, CRYPTO_NAMES
if ffi.os == 'Windows' then
  if ffi.abi'64bit' then
    SSL_NAMES, CRYPTO_NAMES = {'libssl-3-x64.dll'}, {'libcrypto-3-x64.dll'}
  else
    SSL_NAMES, CRYPTO_NAMES = {'libssl-3.dll'}, {'libcrypto-3.dll'}
  end
elseif ffi.os == 'OSX' then
  local dirs = {'/opt/homebrew/opt/openssl@3/lib/', '/usr/local/opt/openssl@3/lib/', '/opt/local/lib/'}
  SSL_NAMES, CRYPTO_NAMES = {}, {}
  for _, d in ipairs(dirs) do
    SSL_NAMES[#SSL_NAMES + 1] = d .. 'libssl.3.dylib'
    CRYPTO_NAMES[#CRYPTO_NAMES + 1] = d .. 'libcrypto.3.dylib'
  end
else
  SSL_NAMES, CRYPTO_NAMES = {'libssl.so.3', 'ssl'}, {'libcrypto.so.3', 'crypto'}
end

local function load()
  -- libcrypto first: libssl needs it, and on Windows (and macOS) the two
  -- are separate namespaces for the FFI
  local crypto, cname = try_load(candidates('SOCKET2_LIBCRYPTO', CRYPTO_NAMES))
  if not crypto then return nil, 'libcrypto 3 not found (tried ' .. cname .. ')' end
  local ssl, sname = try_load(candidates('SOCKET2_LIBSSL', SSL_NAMES))
  if not ssl then return nil, 'libssl 3 not found (tried ' .. sname .. ')' end
  local ok, v = pcall(function() return crypto.OpenSSL_version_num() end)
  if not ok then return nil, cname .. ' is not OpenSSL: ' .. tostring(v) end
  v = tonumber(v)
  if v < 0x30000000 then
    return nil, ('%s is OpenSSL %s: socket2.tls needs OpenSSL 3'):format(cname, ffi.string(crypto.OpenSSL_version(0)))
  end
  -- every symbol used, looked up now: a missing one is "not usable" here,
  -- not an error in the middle of a handshake
  for _, name in ipairs{'TLS_method', 'SSL_CTX_new', 'SSL_new', 'SSL_read_ex', 'SSL_write_ex', 'SSL_set1_host',
      'SSL_get1_peer_certificate', 'SSL_SESSION_is_resumable', 'SSL_CTX_set_ciphersuites', 'SSL_key_update'} do
    local found = pcall(function() return ssl[name] end)
    if not found then return nil, sname .. ' lacks ' .. name end
  end
  for _, name in ipairs{'BIO_s_mem', 'BIO_ctrl_pending', 'ASN1_TIME_to_tm', 'X509_get0_notAfter',
      'OPENSSL_sk_num', 'X509_VERIFY_PARAM_set1_ip_asc', 'RAND_bytes'} do
    local found = pcall(function() return crypto[name] end)
    if not found then return nil, cname .. ' lacks ' .. name end
  end
  if ssl.OPENSSL_init_ssl(0, nil) ~= 1 then return nil, 'OPENSSL_init_ssl failed' end
  return ssl, crypto
end

-- OpenSSL-owned bytes (p, n; n nil: a C string) as a Lua string, copied
-- through a buffer of ours first: LuaJIT's string interning reads whole
-- words, past the end of the bytes, which valgrind reports as uninitialised
-- when they lie in an OpenSSL allocation's padding.
pcall(ffi.cdef, 'size_t strlen(const char *s);')
local scratch = ffi.new('uint8_t[?]', 1024 + 16)
function M.cstring(p, n)
  n = n or tonumber(ffi.C.strlen(p))
  if n > 1024 then
    local b = ffi.new('uint8_t[?]', n + 16)
    ffi.copy(b, p, n)
    return ffi.string(b, n)
  end
  ffi.copy(scratch, p, n)
  return ffi.string(scratch, n)
end

local ssl, crypto = load()
if ssl then
  M.ok, M.ssl, M.crypto = true, ssl, crypto
  M.version = ffi.string(crypto.OpenSSL_version(0))
else
  M.err = crypto
end

return M
