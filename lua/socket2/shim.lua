-- socket2/shim.lua: the shim's ABI (the text of shim/socket2.h between its
-- S2_CDEF markers, S2_API removed; spec/unit/shim_spec.lua checks they agree) and
-- the loading of the shared library.
--
-- The library is found as package.searchpath('socket2.shim', package.cpath):
-- ./socket2/shim.so in the source tree, lib/lua/5.1/socket2/shim.so when
-- installed. SOCKET2_SHIM=/path/to/lib overrides that; SOCKET2_BACKEND=name
-- picks socket2/shim_<name>.so (another backend built beside the default,
-- e.g. io_uring). When the kernel refuses that one (io_uring with EPERM or
-- ENOSYS), the default shim is used instead, with one line on stderr, and
-- M.fallback says why.
local ffi = require'ffi'

ffi.cdef[[
typedef struct s2_loop s2_loop;

/* One harvested result. */
typedef struct s2_event {
    uint32_t id;      /* the slot Lua chose when it registered the socket or op */
    uint32_t gen;     /* the slot's generation: stale events are dropped by Lua */
    int32_t  result;  /* completion: bytes moved (>= 0) or -S2_E*; readiness: 0 */
    uint32_t flags;   /* S2_READ | S2_WRITE | S2_HUP | S2_ERROR | S2_DONE ... */
} s2_event;

/* One operation handed to s2_submit. Pointers travel as uint64_t. */
typedef struct s2_op {
    uint32_t op;       /* S2_OP_* */
    uint32_t flags;    /* WATCH, POLL, CANCEL: S2_READ|S2_WRITE; I/O ops: MSG_* flags */
    uint32_t id;       /* slot, < S2_MAX_ID */
    uint32_t gen;      /* slot generation */
    int64_t  fd;       /* the socket (int fd, or SOCKET on Windows) */
    uint64_t buf;      /* I/O ops: the caller's buffer; alive until its S2_DONE */
    uint64_t addr;     /* CONNECT/SENDTO: the sockaddr; RECVFROM/ACCEPT: room for it */
    uint64_t addrlenp; /* RECVFROM/ACCEPT: uint32_t* that receives the address length */
    uint32_t len;      /* buffer length */
    uint32_t addrlen;  /* CONNECT/SENDTO: length of *addr; RECVFROM/ACCEPT: its room */
    int32_t  result;   /* out: 0 when accepted, else -S2_E* why this op was refused */
    uint32_t aux;      /* ACCEPT on IOCP: unused by reactors; reserved, set to 0 */
} s2_op;

enum {
    /* s2_event.flags and s2_op.flags for WATCH/POLL/CANCEL */
    S2_READ   = 0x01,   /* readable (or, with S2_DONE, a receive-side completion) */
    S2_WRITE  = 0x02,   /* writable (or, with S2_DONE, a send-side completion) */
    S2_HUP    = 0x04,   /* the read side is at EOF: peer shut down or closed */
    S2_ERROR  = 0x08,   /* error or full hangup: both directions fail fast now */
    S2_DONE   = 0x10,   /* a completion: result holds bytes or -S2_E* */
    S2_LOOKUP = 0x20,   /* with S2_DONE: a name lookup finished */
    S2_TRUNC  = 0x40    /* with S2_DONE: a datagram was cut to fit the buffer (IOCP) */
};

enum {
    S2_OP_WATCH = 1,   /* register fd for edge-triggered readiness, both directions */
    S2_OP_UNWATCH,     /* remove the registration (before release(), not before close) */
    S2_OP_RECV,        /* proactor ops: completed by an S2_DONE event */
    S2_OP_SEND,
    S2_OP_RECVFROM,
    S2_OP_SENDTO,
    S2_OP_ACCEPT,
    S2_OP_CONNECT,
    S2_OP_POLL,        /* one-shot readiness, completed by S2_DONE | S2_READ/S2_WRITE */
    S2_OP_CANCEL       /* cancel pending ops of (id, gen) in directions flags */
};

/* s2_caps() bits: which ops the backend does natively. */
enum {
    S2_CAP_READINESS  = 0x01,  /* WATCH/UNWATCH: Lua does the syscalls itself */
    S2_CAP_COMPLETION = 0x02,  /* RECV/SEND/...: the kernel does the I/O */
    S2_CAP_SHARED     = 0x04   /* s2_open(handle) shares a kernel object */
};

enum { S2_MAX_ID = 0x00ffffff };  /* slot ids fit in 24 bits */

/* Errors: shim calls return -S2_E*; names come from s2_errname(). */
enum {
    S2_EOK = 0,
    S2_EPERM, S2_ENOENT, S2_EINTR, S2_EIO, S2_EBADF, S2_EAGAIN, S2_ENOMEM,
    S2_EACCES, S2_EFAULT, S2_EBUSY, S2_EEXIST, S2_EINVAL, S2_ENFILE, S2_EMFILE,
    S2_ENOSPC, S2_EPIPE, S2_ENOSYS, S2_ENAMETOOLONG, S2_ENOTSOCK, S2_EDESTADDRREQ,
    S2_EMSGSIZE, S2_EPROTOTYPE, S2_ENOPROTOOPT, S2_EPROTONOSUPPORT,
    S2_EOPNOTSUPP, S2_EAFNOSUPPORT, S2_EADDRINUSE, S2_EADDRNOTAVAIL,
    S2_ENETDOWN, S2_ENETUNREACH, S2_ENETRESET, S2_ECONNABORTED, S2_ECONNRESET,
    S2_ENOBUFS, S2_EISCONN, S2_ENOTCONN, S2_ESHUTDOWN, S2_ETIMEDOUT,
    S2_ECONNREFUSED, S2_EHOSTDOWN, S2_EHOSTUNREACH, S2_EALREADY, S2_EINPROGRESS,
    S2_ECANCELED, S2_ELOOP,
    /* name lookup */
    S2_EAI_NONAME, S2_EAI_AGAIN, S2_EAI_FAIL, S2_EAI_FAMILY, S2_EAI_SERVICE,
    S2_EAI_SOCKTYPE, S2_EAI_BADFLAGS, S2_EAI_MEMORY, S2_EAI_OTHER,
    S2_EUNKNOWN,
    S2_E_COUNT
};

int32_t     s2_abi_version(void);
const char *s2_backend(void);             /* "epoll", "kqueue", "iocp", "io_uring" */
uint32_t    s2_caps(void);
const char *s2_errname(int32_t code);     /* "ECONNREFUSED" for -S2_ECONNREFUSED */
const char *s2_strerror(int32_t code);    /* human message */
int32_t     s2_from_oserror(int32_t oserr); /* errno/WSA code -> -S2_E* */
/* A getaddrinfo()/getnameinfo() return code -> 0 or -S2_E*: EAI_* (WSA codes
 * on Windows) -> -S2_EAI_*; EAI_SYSTEM -> s2_from_oserror(oserr), where
 * oserr is the errno the call left. */
int32_t     s2_from_gaierror(int32_t rc, int32_t oserr);

/* handle < 0: create a kernel object; else share an existing one. */
int32_t s2_open(int64_t handle, s2_loop **loop);
int64_t s2_handle(s2_loop *loop);
void    s2_close(s2_loop *loop);

/* Returns how many ops were accepted (== n on success) or -S2_EINVAL for a
 * bad call; each refused op has its result set. */
int32_t s2_submit(s2_loop *loop, s2_op *ops, int32_t n);

/* Harvests up to max events; timeout_ms < 0 waits forever. Returns the
 * count (0 on timeout, wakeup or signal) or -S2_E*. */
int32_t s2_wait(s2_loop *loop, s2_event *events, int32_t max, int32_t timeout_ms);

/* The one thread-safe call: makes a blocked s2_wait return. */
int32_t s2_wakeup(s2_loop *loop);

/* Name lookup on a worker thread: getaddrinfo(host, service, hints) runs off
 * the loop; its end arrives as an event {id, gen, result = 0 | -S2_EAI_*,
 * flags = S2_DONE | S2_LOOKUP}. Then s2_lookup_take() hands over the
 * addrinfo list (free it with freeaddrinfo) and frees the request; or
 * s2_lookup_cancel() abandons it: its event is not delivered by any later
 * s2_wait (one an earlier s2_wait returned is the caller's to drop). */
typedef struct s2_lookup s2_lookup;
int32_t s2_lookup_start(s2_loop *loop, const char *host, const char *service,
                               int32_t family, int32_t socktype, int32_t protocol,
                               int32_t flags, uint32_t id, uint32_t gen,
                               s2_lookup **req);
int32_t s2_lookup_take(s2_lookup *req, void **addrinfo);
void    s2_lookup_cancel(s2_lookup *req);

/* Reverse lookup on the same workers: getnameinfo(sa, salen, host, serv,
 * flags) with room for a 1025-byte host and a 32-byte service (NI_MAXHOST,
 * NI_MAXSERV); flags are the OS's NI_* bits; sa is copied (salen: 1 to the
 * size of a sockaddr_storage). Its end arrives as an event {id, gen,
 * result = 0 | -S2_EAI_* (or another -S2_E*), flags = S2_DONE | S2_LOOKUP}.
 * Then s2_nameinfo_take() copies the host and service names, NUL-terminated
 * and cut to hostlen and servlen bytes (NUL included; "" when the lookup
 * failed), frees the request and returns its result; or s2_lookup_cancel()
 * abandons it, as a forward lookup. Either take before the event: -S2_EAGAIN,
 * the request stays; a take of the other kind of request: -S2_EINVAL. */
int32_t s2_nameinfo_start(s2_loop *loop, const void *sa, int32_t salen, int32_t flags,
                                 uint32_t id, uint32_t gen, s2_lookup **req);
int32_t s2_nameinfo_take(s2_lookup *req, char *host, int32_t hostlen,
                                char *serv, int32_t servlen);

/* OS threads that run Lua (lua/socket2/thread.lua). The new thread runs a
 * fresh Lua state of the LuaJIT this process runs (its C API is looked up
 * in the process, never linked): it loads chunk (source or bytecode) and
 * calls it with the string arg. When notify is not NULL, the thread's end
 * arrives there as an event {id, gen, result = 1 | 0, flags = S2_DONE}.
 * s2_thread_join waits for the end and hands over the string the chunk
 * returned (1) or its error message (0); the string lives until
 * s2_thread_free, which also detaches a thread that was never joined (it
 * then frees itself when it ends). -S2_ENOSYS: no Lua C API in the process. */
typedef struct s2_thread s2_thread;
int32_t s2_thread_start(const char *chunk, int32_t chunklen, const char *arg, int32_t arglen,
                               s2_loop *notify, uint32_t id, uint32_t gen, s2_thread **t);
int32_t s2_thread_join(s2_thread *t, const char **res, int32_t *reslen);
void    s2_thread_free(s2_thread *t);
]]

local M = {}

local function search(name)
  local cpath = package.cpath
  if ffi.os == 'Windows' then cpath = cpath:gsub('%.so', '.dll') end
  return package.searchpath(name, cpath)
end

local function check_abi(lib, path)
  local ABI = 2
  local got = lib.s2_abi_version()
  if got ~= ABI then
    error(('socket2: shim %s has ABI %d, this Lua code needs %d'):format(path, got, ABI), 0)
  end
end

local function load_default()
  local path, err = search'socket2.shim'
  if not path then error('socket2: cannot find the shim library socket2.shim (run make?)' .. err, 0) end
  return ffi.load(path), path
end

-- Can this backend open a loop here? nil, or why not (io_uring on a kernel
-- that refuses it: EPERM, ENOSYS).
local function refused(lib)
  local out = ffi.new's2_loop*[1]'
  local rc = lib.s2_open(-1, out)
  if rc == 0 then lib.s2_close(out[0]); return nil end
  if rc == -lib.S2_EPERM or rc == -lib.S2_ENOSYS then
    return ffi.string(lib.s2_errname(rc)) .. ': ' .. ffi.string(lib.s2_strerror(rc))
  end
end

local shim_env, backend_env = os.getenv'SOCKET2_SHIM', os.getenv'SOCKET2_BACKEND'
if shim_env and shim_env ~= '' then
  M.path = shim_env
  M.lib = ffi.load(shim_env)
elseif backend_env and backend_env ~= '' then
  -- a backend built beside the default one (SOCKET2_BACKEND=epoll names the
  -- default itself); when the kernel refuses it, socket2 falls back to the
  -- default shim and says so, once: here, on load
  local path = search('socket2.shim_' .. backend_env)
  if path then
    local lib = ffi.load(path)
    check_abi(lib, path)
    local why = refused(lib)
    if not why then
      M.lib, M.path = lib, path
    else
      M.lib, M.path = load_default()
      M.fallback = {wanted = backend_env, reason = why}
      io.stderr:write(('socket2: the %s backend cannot be used here (%s); using %s\n'):format(
        backend_env, why, ffi.string(M.lib.s2_backend())))
    end
  else
    M.lib, M.path = load_default()
    if ffi.string(M.lib.s2_backend()) ~= backend_env then
      error(('socket2: SOCKET2_BACKEND=%s but there is no socket2/shim_%s library (run make?)'):format(
        backend_env, backend_env), 0)
    end
  end
else
  M.lib, M.path = load_default()
end

check_abi(M.lib, M.path)
M.backend = ffi.string(M.lib.s2_backend())
M.caps = M.lib.s2_caps()

return M
