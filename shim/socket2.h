/* socket2.h -- the socket2 shim's whole public ABI.
 *
 * The shim owns the kernel's event object (epoll fd, kqueue fd, IOCP handle,
 * io_uring ring) and turns what it reports into one stream of fixed-size
 * s2_event structs, read by Lua in batches. Sockets themselves are created and
 * used by Lua through the FFI; the shim never wraps the socket API.
 *
 * Every struct here uses fixed-width fields only (no long, no pointers, no
 * unions, no packing) so that one Lua cdef of this text is valid on every
 * OS/ABI. lua/socket2/shim.lua declares exactly this text between the
 * S2_CDEF_BEGIN/END markers; a spec checks that they agree.
 */
#ifndef SOCKET2_H
#define SOCKET2_H

#include <stdint.h>

#if defined(_WIN32)
#  define S2_API __declspec(dllexport)
#else
#  define S2_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define S2_ABI_VERSION 2

/* S2_CDEF_BEGIN */
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

S2_API int32_t     s2_abi_version(void);
S2_API const char *s2_backend(void);             /* "epoll", "kqueue", "iocp", "io_uring" */
S2_API uint32_t    s2_caps(void);
S2_API const char *s2_errname(int32_t code);     /* "ECONNREFUSED" for -S2_ECONNREFUSED */
S2_API const char *s2_strerror(int32_t code);    /* human message */
S2_API int32_t     s2_from_oserror(int32_t oserr); /* errno/WSA code -> -S2_E* */
/* A getaddrinfo()/getnameinfo() return code -> 0 or -S2_E*: EAI_* (WSA codes
 * on Windows) -> -S2_EAI_*; EAI_SYSTEM -> s2_from_oserror(oserr), where
 * oserr is the errno the call left. */
S2_API int32_t     s2_from_gaierror(int32_t rc, int32_t oserr);

/* handle < 0: create a kernel object; else share an existing one. */
S2_API int32_t s2_open(int64_t handle, s2_loop **loop);
S2_API int64_t s2_handle(s2_loop *loop);
S2_API void    s2_close(s2_loop *loop);

/* Returns how many ops were accepted (== n on success) or -S2_EINVAL for a
 * bad call; each refused op has its result set. */
S2_API int32_t s2_submit(s2_loop *loop, s2_op *ops, int32_t n);

/* Harvests up to max events; timeout_ms < 0 waits forever. Returns the
 * count (0 on timeout, wakeup or signal) or -S2_E*. */
S2_API int32_t s2_wait(s2_loop *loop, s2_event *events, int32_t max, int32_t timeout_ms);

/* The one thread-safe call: makes a blocked s2_wait return. */
S2_API int32_t s2_wakeup(s2_loop *loop);

/* Name lookup on a worker thread: getaddrinfo(host, service, hints) runs off
 * the loop; its end arrives as an event {id, gen, result = 0 | -S2_EAI_*,
 * flags = S2_DONE | S2_LOOKUP}. Then s2_lookup_take() hands over the
 * addrinfo list (free it with freeaddrinfo) and frees the request; or
 * s2_lookup_cancel() abandons it: its event is not delivered by any later
 * s2_wait (one an earlier s2_wait returned is the caller's to drop). */
typedef struct s2_lookup s2_lookup;
S2_API int32_t s2_lookup_start(s2_loop *loop, const char *host, const char *service,
                               int32_t family, int32_t socktype, int32_t protocol,
                               int32_t flags, uint32_t id, uint32_t gen,
                               s2_lookup **req);
S2_API int32_t s2_lookup_take(s2_lookup *req, void **addrinfo);
S2_API void    s2_lookup_cancel(s2_lookup *req);

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
S2_API int32_t s2_nameinfo_start(s2_loop *loop, const void *sa, int32_t salen, int32_t flags,
                                 uint32_t id, uint32_t gen, s2_lookup **req);
S2_API int32_t s2_nameinfo_take(s2_lookup *req, char *host, int32_t hostlen,
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
S2_API int32_t s2_thread_start(const char *chunk, int32_t chunklen, const char *arg, int32_t arglen,
                               s2_loop *notify, uint32_t id, uint32_t gen, s2_thread **t);
S2_API int32_t s2_thread_join(s2_thread *t, const char **res, int32_t *reslen);
S2_API void    s2_thread_free(s2_thread *t);
/* S2_CDEF_END */

#ifdef __cplusplus
}
#endif

#if !defined(__cplusplus)
_Static_assert(sizeof(s2_event) == 16, "s2_event must be 16 bytes");
_Static_assert(sizeof(s2_op) == 64, "s2_op must be 64 bytes");
#endif

#endif
