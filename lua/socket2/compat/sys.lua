-- socket2/compat/sys.lua: the few OS calls the compatibility layers need
-- beyond socket2 itself: the wall clock (ngx.now, LuaSocket's gettime),
-- the process id (ngx.worker.pid), the host name, and loading libcrypto
-- (ngx.md5, ngx.sha1_bin, ngx.hmac_sha1) on first use.
local ffi = require'ffi'
require'socket2.os' -- socket2's declarations first: the ones below defer to them

local M = {}

if ffi.os == 'Windows' then
  -- (as socket2's OS file declares it, when it did)
  pcall(ffi.cdef, 'void GetSystemTimeAsFileTime(uint64_t *ft);')
  pcall(ffi.cdef, 'uint32_t GetCurrentProcessId(void);')
  local ft = ffi.new'uint64_t[1]'
  local k32 = ffi.C
  function M.now()
    k32.GetSystemTimeAsFileTime(ft)
    -- 100 ns units since 1601-01-01
    return tonumber(ft[0]) / 1e7 - 11644473600
  end
  function M.getpid() return tonumber(k32.GetCurrentProcessId()) end
  function M.hostname()
    return os.getenv'COMPUTERNAME' or 'localhost'
  end
else
  -- (each declared unless socket2's OS file declared it already)
  if not pcall(ffi.typeof, 'struct timespec') then
    ffi.cdef'struct timespec { long tv_sec; long tv_nsec; };'
  end
  pcall(ffi.cdef, 'int clock_gettime(int clk, struct timespec *ts);')
  pcall(ffi.cdef, 'int getpid(void);')
  pcall(ffi.cdef, 'int gethostname(char *name, size_t len);')
  local ts = ffi.new'struct timespec'
  local C = ffi.C
  local CLOCK_REALTIME = 0 -- Linux, FreeBSD and macOS alike
  function M.now()
    C.clock_gettime(CLOCK_REALTIME, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
  end
  function M.getpid() return C.getpid() end
  function M.hostname()
    local buf = ffi.new('char[257]')
    if C.gethostname(buf, 256) ~= 0 then return nil end
    return ffi.string(buf)
  end
end

-- libcrypto (OpenSSL 3), loaded once on first use: the library, or nil, why.
-- global: its symbols in ffi.C too, as in an nginx that links OpenSSL (the
-- lua-resty-string modules call ffi.C.MD5_Init & co.)
local crypto, crypto_err
function M.crypto()
  if crypto then return crypto end
  if crypto_err then return nil, crypto_err end
  local names = {os.getenv'SOCKET2_LIBCRYPTO', 'libcrypto.so.3', 'crypto', 'libcrypto-3-x64', 'libcrypto.3.dylib'}
  for i = 1, #names do
    local name = names[i]
    if name and name ~= '' then
      local ok, lib = pcall(ffi.load, name, true)
      if ok then crypto = lib; break end
    end
  end
  if not crypto then
    crypto_err = 'libcrypto (OpenSSL 3) not found (set SOCKET2_LIBCRYPTO to its path)'
    return nil, crypto_err
  end
  pcall(ffi.cdef, [[
    typedef struct evp_md_st EVP_MD;
    const EVP_MD *EVP_md5(void);
    const EVP_MD *EVP_sha1(void);
    int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
                   const EVP_MD *type, void *impl);
    unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *d,
                        size_t n, unsigned char *md, unsigned int *md_len);
  ]])
  return crypto
end

return M
