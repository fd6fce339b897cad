/* common.c -- what every backend shares: the public entry points, which
 * validate and forward to the backend, the error names, and the inbox
 * through which other threads hand events to a loop. */
#include <stdlib.h>
#include <string.h>
#include "s2_internal.h"

/* One table: code -> name, message. Messages are socket2's own, so they read
 * the same on every OS. */
static const struct { const char *name, *msg; } s2__errors[S2_E_COUNT] = {
#define E(code, msg) [S2_##code] = { #code, msg }
    [S2_EOK] = { "OK", "success" },
    E(EPERM, "operation not permitted"),
    E(ENOENT, "no such file or directory"),
    E(EINTR, "interrupted system call"),
    E(EIO, "input/output error"),
    E(EBADF, "bad file descriptor"),
    E(EAGAIN, "resource temporarily unavailable"),
    E(ENOMEM, "out of memory"),
    E(EACCES, "permission denied"),
    E(EFAULT, "bad address"),
    E(EBUSY, "resource busy"),
    E(EEXIST, "already exists"),
    E(EINVAL, "invalid argument"),
    E(ENFILE, "too many open files in system"),
    E(EMFILE, "too many open files"),
    E(ENOSPC, "no space left on device"),
    E(EPIPE, "broken pipe"),
    E(ENOSYS, "function not implemented"),
    E(ENAMETOOLONG, "name too long"),
    E(ENOTSOCK, "not a socket"),
    E(EDESTADDRREQ, "destination address required"),
    E(EMSGSIZE, "message too long"),
    E(EPROTOTYPE, "protocol wrong type for socket"),
    E(ENOPROTOOPT, "protocol not available"),
    E(EPROTONOSUPPORT, "protocol not supported"),
    E(EOPNOTSUPP, "operation not supported"),
    E(EAFNOSUPPORT, "address family not supported"),
    E(EADDRINUSE, "address already in use"),
    E(EADDRNOTAVAIL, "address not available"),
    E(ENETDOWN, "network is down"),
    E(ENETUNREACH, "network is unreachable"),
    E(ENETRESET, "connection reset by network"),
    E(ECONNABORTED, "connection aborted"),
    E(ECONNRESET, "connection reset by peer"),
    E(ENOBUFS, "no buffer space available"),
    E(EISCONN, "socket is already connected"),
    E(ENOTCONN, "socket is not connected"),
    E(ESHUTDOWN, "cannot send after shutdown"),
    E(ETIMEDOUT, "timeout"),
    E(ECONNREFUSED, "connection refused"),
    E(EHOSTDOWN, "host is down"),
    E(EHOSTUNREACH, "host is unreachable"),
    E(EALREADY, "operation already in progress"),
    E(EINPROGRESS, "operation in progress"),
    E(ECANCELED, "operation canceled"),
    E(ELOOP, "too many levels of symbolic links"),
    E(EAI_NONAME, "host or service not known"),
    E(EAI_AGAIN, "temporary failure in name resolution"),
    E(EAI_FAIL, "non-recoverable failure in name resolution"),
    E(EAI_FAMILY, "address family not supported for name"),
    E(EAI_SERVICE, "service not supported for socket type"),
    E(EAI_SOCKTYPE, "socket type not supported"),
    E(EAI_BADFLAGS, "invalid lookup flags"),
    E(EAI_MEMORY, "out of memory in name resolution"),
    E(EAI_OTHER, "name resolution failed"),
    E(EUNKNOWN, "unknown error"),
#undef E
};

S2_API int32_t s2_abi_version(void) { return S2_ABI_VERSION; }
S2_API const char *s2_backend(void) { return s2__backend_name; }
S2_API uint32_t s2_caps(void) { return s2__backend_caps; }

static int32_t s2__index(int32_t code) {
    uint32_t u = code < 0 ? 0u - (uint32_t)code : (uint32_t)code; /* INT32_MIN too */
    return (u < S2_E_COUNT && s2__errors[u].name) ? (int32_t)u : S2_EUNKNOWN;
}
S2_API const char *s2_errname(int32_t code) { return s2__errors[s2__index(code)].name; }
S2_API const char *s2_strerror(int32_t code) { return s2__errors[s2__index(code)].msg; }

S2_API int32_t s2_open(int64_t handle, s2_loop **loop) {
    if (!loop) return -S2_EINVAL;
    *loop = NULL;
    return s2__backend_open(handle, loop);
}

S2_API int64_t s2_handle(s2_loop *loop) { return loop ? s2__backend_handle(loop) : -1; }

S2_API void s2_close(s2_loop *loop) {
    if (!loop) return;
    s2__lookups_abandon(loop);
    s2__threads_abandon(loop);
    s2__backend_close(loop);
}

S2_API int32_t s2_submit(s2_loop *loop, s2_op *ops, int32_t n) {
    int32_t i, accepted = 0;
    if (!loop || n < 0 || (n > 0 && !ops)) return -S2_EINVAL;
    for (i = 0; i < n; i++) {
        s2_op *op = &ops[i];
        if (op->id > S2_MAX_ID) op->result = -S2_EINVAL;
        else op->result = s2__backend_submit(loop, op);
        if (op->result == 0) accepted++;
    }
    return accepted;
}

S2_API int32_t s2_wait(s2_loop *loop, s2_event *events, int32_t max, int32_t timeout_ms) {
    int32_t n, m = 0;
    if (!loop || max <= 0 || !events) return -S2_EINVAL;
    if (s2__inbox_pending(loop)) {
        /* posted events take at most half the batch, so a flood of them
         * never starves the kernel's */
        m = s2__inbox_drain(loop, events, max > 1 ? max / 2 : max);
        if (m == max) return m;
        timeout_ms = 0;
    }
    n = s2__backend_wait(loop, events + m, max - m, timeout_ms);
    if (n < 0) return m ? m : n;
    n += m;
    if (n < max && s2__inbox_pending(loop))
        n += s2__inbox_drain(loop, events + n, max - n);
    return n;
}

S2_API int32_t s2_wakeup(s2_loop *loop) { return loop ? s2__backend_wake(loop) : -S2_EINVAL; }

/* inbox ------------------------------------------------------------------ */

S2_INTERNAL int32_t s2__common_init(s2_common *c) {
    memset(c, 0, sizeof *c);
    return s2_mutex_init(&c->inbox.mu) ? -S2_ENOMEM : 0;
}

S2_INTERNAL void s2__common_free(s2_common *c) {
    s2_mutex_free(&c->inbox.mu);
    free(c->inbox.ev);
    c->inbox.ev = NULL;
}

S2_INTERNAL int32_t s2__inbox_append(s2_loop *loop, const s2_event *ev, int32_t n) {
    s2_inbox *in = &S2_COMMON(loop)->inbox;
    int32_t rc = 0;
    if (n <= 0) return 0;
    s2_mutex_lock(&in->mu);
    if (in->cap - in->n < n) {
        int32_t cap = in->cap ? in->cap : 64;
        s2_event *p;
        while (cap - in->n < n) cap *= 2;
        p = realloc(in->ev, (size_t)cap * sizeof *p);
        if (p) { in->ev = p; in->cap = cap; }
        else rc = -S2_ENOMEM;
    }
    if (rc == 0) {
        memcpy(in->ev + in->n, ev, (size_t)n * sizeof *ev);
        in->n += n;
        s2_atomic_set_sc(&in->pending, 1);  /* _sc: see s2_common.awake */
    }
    s2_mutex_unlock(&in->mu);
    return rc;
}

S2_INTERNAL int32_t s2__post(s2_loop *loop, const s2_event *ev) {
    int32_t rc = s2__inbox_append(loop, ev, 1);
    if (rc == 0) s2__backend_wake(loop);
    return rc;
}

S2_INTERNAL int s2__inbox_pending(s2_loop *loop) {
    return s2_atomic_get(&S2_COMMON(loop)->inbox.pending) != 0;
}

/* Removes a posted event that has not been harvested yet (a lookup that
 * was cancelled after it finished). */
S2_INTERNAL void s2__inbox_remove(s2_loop *loop, uint32_t id, uint32_t gen, uint32_t flags) {
    s2_inbox *in = &S2_COMMON(loop)->inbox;
    int32_t i, j = 0;
    s2_mutex_lock(&in->mu);
    for (i = 0; i < in->n; i++) {
        s2_event *e = &in->ev[i];
        if (e->id == id && e->gen == gen && (e->flags & flags) == flags) continue;
        in->ev[j++] = *e;
    }
    in->n = j;
    s2_atomic_set(&in->pending, in->n != 0);
    s2_mutex_unlock(&in->mu);
}

S2_INTERNAL int32_t s2__inbox_drain(s2_loop *loop, s2_event *ev, int32_t max) {
    s2_inbox *in = &S2_COMMON(loop)->inbox;
    int32_t n;
    s2_mutex_lock(&in->mu);
    n = in->n < max ? in->n : max;
    memcpy(ev, in->ev, (size_t)n * sizeof *ev);
    memmove(in->ev, in->ev + n, (size_t)(in->n - n) * sizeof *ev);
    in->n -= n;
    s2_atomic_set(&in->pending, in->n != 0);
    s2_mutex_unlock(&in->mu);
    return n;
}
