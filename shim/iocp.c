/* iocp.c -- the Windows completion backend (I/O completion ports).
 *
 * Proactor: Lua submits RECV/SEND/RECVFROM/SENDTO/ACCEPT/CONNECT with its own
 * buffer, the kernel does the I/O, and the completion comes back as one
 * event {id, gen, bytes | -S2_E*, S2_DONE | S2_READ or S2_WRITE}. ACCEPT's
 * result is the new socket (handles fit in 32 bits; the shim creates it for
 * AcceptEx and closes it if the accept fails).
 *
 * Every operation takes a record from its loop's pool. The OVERLAPPED is the
 * record's first field, so a dequeued OVERLAPPED* is the record, and the
 * record names its owner loop: a completion that another loop sharing the
 * port dequeues is finished there and forwarded to the owner's inbox (the
 * owner is woken by an APC; its wait is alertable when shared). Records of
 * one slot id are chained, so CANCEL finds them for CancelIoEx. A socket is
 * associated with the port (and made non-blocking) on its first operation.
 * SEND and SENDTO first try a non-blocking send: what fits goes at once and
 * completes through the port, as on a reactor; only when nothing fits is
 * the overlapped send started (which completes once all its bytes are taken).
 *
 * POLL(READ) is a zero-byte WSARecv (MSG_PEEK on datagram sockets): it ends
 * when data, EOF or an error is there. What IOCP cannot do: wait for write
 * space (POLL(WRITE) completes at once) or for a pending connection on a
 * listening socket (POLL(READ) there is refused: accept instead). */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <stdlib.h>
#include <string.h>
#include "s2_internal.h"

#define S2_KEY_IO   1                          /* sockets associated by socket2 */
#define S2_KEY_WAKE 2                          /* s2_wakeup's packets */
#define S2_ROOM     (sizeof(SOCKADDR_STORAGE) + 16) /* AcceptEx: per address */
#define S2_GQCS_MAX 256                        /* completions per GQCSEx call */

S2_INTERNAL int32_t s2__from_ntstatus(uint32_t st);

typedef struct s2__rec {
    OVERLAPPED ov;             /* first: OVERLAPPED* == record* */
    s2_loop *loop;             /* owner */
    struct s2__rec *next;      /* the slot's chain, or the free list */
    struct s2__rec *all;       /* every record of the loop */
    SOCKET sock, accepted;
    uint32_t id, gen, op, dir; /* dir: S2_READ or S2_WRITE */
    int posted, busy;          /* posted: result known at submit (PQCS) */
    int32_t res;
    void *addr;                /* ACCEPT/RECVFROM: where the peer address goes */
    uint32_t *addrlenp, addrroom;
    DWORD flags;
    INT salen;
    SOCKADDR_STORAGE sa;       /* RECVFROM source; SENDTO/CONNECT target */
    char abuf[2 * S2_ROOM];    /* AcceptEx: local and remote address */
} s2__rec;

typedef struct { s2__rec *chain; SOCKET sock; uint32_t gen, assoc; } s2__slot;

struct s2_loop {
    s2_common c;               /* first: see S2_COMMON */
    HANDLE port;
    int owned, shared;         /* created the port / the port is (may be) shared */
    HANDLE thread;             /* owner thread, for APC wakeups when shared */
    s2_mutex mu;               /* guards pool and slots when shared */
    s2__rec *free, *all;
    s2__slot *slots;
    uint32_t nslots;
    volatile LONG pending;     /* records in flight */
};

const char *const s2__backend_name = "iocp";
const uint32_t s2__backend_caps = S2_CAP_COMPLETION | S2_CAP_SHARED;

static int32_t s2__err(void) { return s2_from_oserror((int32_t)GetLastError()); }
static int32_t s2__wsaerr(void) { return s2_from_oserror(WSAGetLastError()); }
static void s2__lock(s2_loop *l) { if (l->shared) s2_mutex_lock(&l->mu); }
static void s2__unlock(s2_loop *l) { if (l->shared) s2_mutex_unlock(&l->mu); }

/* AcceptEx & co. come from the provider, through WSAIoctl; fetched once. */
static void *s2__ext(SOCKET s, GUID g, void *volatile *cache) {
    void *fp = *cache;
    DWORD n;
    if (!fp && WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, sizeof g,
                        &fp, sizeof fp, &n, NULL, NULL) == 0)
        *cache = fp;
    return fp;
}
static void *volatile s2__acceptex, *volatile s2__connectex, *volatile s2__sockaddrs;

S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **out) {
    int32_t rc;
    s2_loop *l = calloc(1, sizeof *l);
    if (!l) return -S2_ENOMEM;
    if ((rc = s2__common_init(&l->c)) < 0) { free(l); return rc; }
    s2_mutex_init(&l->mu);
    /* the owner thread, woken by an APC once the port is shared */
    if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(),
                         &l->thread, THREAD_SET_CONTEXT, FALSE, 0)) {
        rc = s2__err();
        goto fail;
    }
    if (handle >= 0) {
        l->port = (HANDLE)(intptr_t)handle;
        l->shared = 1;
    } else if ((l->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1)) != NULL) {
        l->owned = 1;
    } else {
        rc = s2__err();
        goto fail;
    }
    *out = l;
    return 0;
fail:
    if (l->thread) CloseHandle(l->thread);
    s2_mutex_free(&l->mu);
    s2__common_free(&l->c);
    free(l);
    return rc;
}

/* Handed out, the port may be shared: lock the pool, wait alertable, wake
 * by APC (any loop of a shared port may dequeue a wakeup packet). */
S2_INTERNAL int64_t s2__backend_handle(s2_loop *l) {
    l->shared = 1;
    return (int64_t)(intptr_t)l->port;
}

static s2__slot *s2__slot_of(s2_loop *l, uint32_t id) {
    if (id >= l->nslots) {
        uint32_t n = l->nslots ? l->nslots : 64;
        s2__slot *p;
        while (n <= id) n *= 2;
        if (!(p = realloc(l->slots, n * sizeof *p))) return NULL;
        memset(p + l->nslots, 0, (n - l->nslots) * sizeof *p);
        l->slots = p; l->nslots = n;
    }
    return &l->slots[id];
}

static s2__rec *s2__get(s2_loop *l) {
    s2__rec *r = l->free;
    if (r) l->free = r->next;
    else if ((r = malloc(sizeof *r)) != NULL) { r->all = l->all; l->all = r; }
    if (r) { s2__rec *all = r->all; memset(r, 0, sizeof *r); r->all = all; r->loop = l; }
    return r;
}

/* Unlink a finished record from its slot's chain and return it to the pool. */
static void s2__put(s2_loop *l, s2__rec *r, int linked) {
    s2__lock(l);
    if (linked && r->id < l->nslots) {
        s2__rec **p = &l->slots[r->id].chain;
        while (*p && *p != r) p = &(*p)->next;
        if (*p) *p = r->next;
    }
    r->busy = 0;
    r->next = l->free; l->free = r;
    s2__unlock(l);
}

/* Starts r's operation; 0 when a completion will come, else -S2_E*. */
static int32_t s2__start(s2_loop *l, s2__rec *r, const s2_op *op) {
    WSABUF wb;
    DWORD n;
    int rc = 0, type = 0, tlen = sizeof type, lis = 0, llen = sizeof lis;
    static char zero[1];
    wb.buf = (char *)(uintptr_t)op->buf; wb.len = op->len;
    r->flags = op->flags;
    switch (op->op) {
    case S2_OP_RECV:
        rc = WSARecv(r->sock, &wb, 1, NULL, &r->flags, &r->ov, NULL);
        break;
    case S2_OP_SEND: case S2_OP_SENDTO:
        /* to a peer that does not read, an overlapped send would never end */
        rc = op->op == S2_OP_SEND ? send(r->sock, wb.buf, (int)wb.len, (int)r->flags)
           : sendto(r->sock, wb.buf, (int)wb.len, (int)r->flags, (struct sockaddr *)&r->sa, r->salen);
        if (rc >= 0) { r->posted = 1; r->res = rc; break; }
        if (WSAGetLastError() != WSAEWOULDBLOCK) return s2__wsaerr();
        rc = op->op == S2_OP_SEND ? WSASend(r->sock, &wb, 1, NULL, r->flags, &r->ov, NULL)
           : WSASendTo(r->sock, &wb, 1, NULL, r->flags, (struct sockaddr *)&r->sa, r->salen, &r->ov, NULL);
        break;
    case S2_OP_RECVFROM:
        r->salen = sizeof r->sa;
        rc = WSARecvFrom(r->sock, &wb, 1, NULL, &r->flags, (struct sockaddr *)&r->sa,
                         &r->salen, &r->ov, NULL);
        break;
    case S2_OP_POLL:
        if (r->dir == S2_WRITE) { r->posted = 1; break; }
        if (getsockopt(r->sock, SOL_SOCKET, SO_TYPE, (char *)&type, &tlen) != 0
            || getsockopt(r->sock, SOL_SOCKET, SO_ACCEPTCONN, (char *)&lis, &llen) != 0)
            return s2__wsaerr();
        if (lis) return -S2_EOPNOTSUPP;  /* a listener: no zero-byte receive */
        wb.buf = zero; wb.len = 0;
        r->flags = type == SOCK_STREAM ? 0 : MSG_PEEK;
        rc = WSARecv(r->sock, &wb, 1, NULL, &r->flags, &r->ov, NULL);
        break;
    case S2_OP_CONNECT: {
        SOCKADDR_STORAGE me;
        int melen = sizeof me;
        LPFN_CONNECTEX connectex;
        if (getsockopt(r->sock, SOL_SOCKET, SO_TYPE, (char *)&type, &tlen) != 0) return s2__wsaerr();
        if (type != SOCK_STREAM) {
            /* a datagram connect only sets the peer: done at once */
            r->posted = 1;
            r->res = connect(r->sock, (struct sockaddr *)&r->sa, r->salen) ? s2__wsaerr() : 0;
            break;
        }
        /* ConnectEx wants a bound socket */
        if (getsockname(r->sock, (struct sockaddr *)&me, &melen) != 0) {
            memset(&me, 0, sizeof me);
            me.ss_family = r->sa.ss_family;
            if (bind(r->sock, (struct sockaddr *)&me, r->salen) != 0) return s2__wsaerr();
        }
        connectex = (LPFN_CONNECTEX)s2__ext(r->sock, (GUID)WSAID_CONNECTEX, &s2__connectex);
        if (!connectex) return s2__wsaerr();
        rc = connectex(r->sock, (struct sockaddr *)&r->sa, r->salen, NULL, 0, NULL, &r->ov) ? 0 : -1;
        break;
    }
    case S2_OP_ACCEPT: {
        WSAPROTOCOL_INFOW pi;
        int pilen = sizeof pi;
        LPFN_ACCEPTEX acceptex = (LPFN_ACCEPTEX)s2__ext(r->sock, (GUID)WSAID_ACCEPTEX, &s2__acceptex);
        if (!acceptex || !s2__ext(r->sock, (GUID)WSAID_GETACCEPTEXSOCKADDRS, &s2__sockaddrs))
            return s2__wsaerr();
        if (getsockopt(r->sock, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&pi, &pilen) != 0)
            return s2__wsaerr();
        r->accepted = WSASocketW(pi.iAddressFamily, pi.iSocketType, pi.iProtocol, NULL, 0,
                                 WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
        if (r->accepted == INVALID_SOCKET) return s2__wsaerr();
        rc = acceptex(r->sock, r->accepted, r->abuf, 0, S2_ROOM, S2_ROOM, &n, &r->ov) ? 0 : -1;
        if (rc != 0 && WSAGetLastError() != WSA_IO_PENDING) {
            int32_t e = s2__wsaerr();
            closesocket(r->accepted);
            return e;
        }
        break;
    }
    default:
        return -S2_EOPNOTSUPP;
    }
    if (r->posted)  /* the result is known now: deliver it through the port */
        return PostQueuedCompletionStatus(l->port, 0, S2_KEY_IO, &r->ov)
            ? 0 : s2__err();
    /* WSAEMSGSIZE: a datagram was truncated at once; its completion (with
     * STATUS_BUFFER_OVERFLOW, which is data) is queued all the same */
    if (rc != 0 && WSAGetLastError() != WSA_IO_PENDING && WSAGetLastError() != WSAEMSGSIZE)
        return s2__wsaerr();
    return 0;
}

S2_INTERNAL int32_t s2__backend_submit(s2_loop *l, s2_op *op) {
    s2__slot *sl;
    s2__rec *r;
    int32_t rc = 0;
    uint32_t dir;
    switch (op->op) {
    case S2_OP_RECV: case S2_OP_RECVFROM: case S2_OP_ACCEPT: dir = S2_READ; break;
    case S2_OP_SEND: case S2_OP_SENDTO: case S2_OP_CONNECT: dir = S2_WRITE; break;
    case S2_OP_POLL:
        if (op->flags != S2_READ && op->flags != S2_WRITE) return -S2_EINVAL;
        dir = op->flags; break;
    case S2_OP_CANCEL: dir = 0; break;
    default: return -S2_EOPNOTSUPP;  /* WATCH/UNWATCH: no readiness here */
    }
    if (op->fd < 0 || (uint64_t)op->fd == (uint64_t)INVALID_SOCKET) return -S2_EBADF;
    if ((op->op == S2_OP_SENDTO || op->op == S2_OP_CONNECT)
        && (!op->addr || op->addrlen == 0 || op->addrlen > sizeof r->sa)) return -S2_EINVAL;
    s2__lock(l);
    if (!(sl = s2__slot_of(l, op->id))) { s2__unlock(l); return -S2_ENOMEM; }
    if (op->op == S2_OP_CANCEL) {
        for (r = sl->chain; r; r = r->next)
            if (r->gen == op->gen && (r->dir & op->flags) && !r->posted)
                CancelIoEx((HANDLE)r->sock, &r->ov);  /* ERROR_NOT_FOUND: done already */
        s2__unlock(l);
        return 0;
    }
    if (!(sl->assoc && sl->gen == op->gen && sl->sock == (SOCKET)op->fd)) {
        if (!CreateIoCompletionPort((HANDLE)(SOCKET)op->fd, l->port, S2_KEY_IO, 0)
            && GetLastError() != ERROR_INVALID_PARAMETER) {  /* that one: associated already */
            s2__unlock(l);
            return s2__err();
        }
        { u_long on = 1; ioctlsocket((SOCKET)op->fd, FIONBIO, &on); }  /* see SEND */
        sl->assoc = 1; sl->gen = op->gen; sl->sock = (SOCKET)op->fd;
    }
    if (!(r = s2__get(l))) { s2__unlock(l); return -S2_ENOMEM; }
    r->sock = (SOCKET)op->fd; r->id = op->id; r->gen = op->gen; r->op = op->op; r->dir = dir;
    r->addr = (void *)(uintptr_t)op->addr;
    r->addrlenp = (uint32_t *)(uintptr_t)op->addrlenp;
    r->addrroom = op->addrlen;
    if (op->op == S2_OP_SENDTO || op->op == S2_OP_CONNECT) {
        memcpy(&r->sa, r->addr, op->addrlen);
        r->salen = (INT)op->addrlen;
    }
    r->busy = 1;
    r->next = sl->chain; sl->chain = r;
    s2__unlock(l);
    rc = s2__start(l, r, op);
    if (rc < 0) s2__put(l, r, 1);
    else InterlockedIncrement(&l->pending);
    return rc;
}

/* The event of a finished record; does what the op needs afterwards. */
static void s2__finish(s2__rec *r, DWORD bytes, s2_event *ev) {
    int32_t res = r->posted ? r->res : s2__from_ntstatus((uint32_t)r->ov.Internal);
    if (res == 0 && !r->posted) res = (int32_t)bytes;
    switch (r->op) {
    case S2_OP_ACCEPT:
        if (res >= 0 && setsockopt(r->accepted, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                                   (char *)&r->sock, sizeof r->sock) != 0)
            res = s2__wsaerr();
        if (res >= 0 && (uint64_t)r->accepted > INT32_MAX) res = -S2_EMFILE;
        if (res < 0) { closesocket(r->accepted); break; }
        if (r->addr && r->addrlenp) {
            struct sockaddr *lp, *rp;
            INT ll = 0, rl = 0;
            ((LPFN_GETACCEPTEXSOCKADDRS)s2__sockaddrs)(r->abuf, 0, S2_ROOM, S2_ROOM, &lp, &ll, &rp, &rl);
            memcpy(r->addr, rp, (uint32_t)rl < r->addrroom ? (size_t)rl : r->addrroom);
            *r->addrlenp = (uint32_t)rl;
        }
        { u_long on = 1; ioctlsocket(r->accepted, FIONBIO, &on); }
        res = (int32_t)r->accepted;
        break;
    case S2_OP_CONNECT:
        if (res >= 0 && !r->posted
            && setsockopt(r->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0) != 0)
            res = s2__wsaerr();
        if (res > 0) res = 0;
        break;
    case S2_OP_RECVFROM:
        if (res >= 0 && r->addr && r->addrlenp) {
            memcpy(r->addr, &r->sa, (uint32_t)r->salen < r->addrroom ? (size_t)r->salen : r->addrroom);
            *r->addrlenp = (uint32_t)r->salen;
        }
        break;
    case S2_OP_POLL: if (res > 0) res = 0; break;
    }
    ev->id = r->id; ev->gen = r->gen; ev->result = res; ev->flags = S2_DONE | r->dir;
    /* STATUS_BUFFER_OVERFLOW: the datagram is data, but Lua reports the cut */
    if (!r->posted && (uint32_t)r->ov.Internal == 0x80000005u) ev->flags |= S2_TRUNC;
}

S2_INTERNAL int32_t s2__backend_wait(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    OVERLAPPED_ENTRY e[S2_GQCS_MAX];
    ULONG n = 0, i;
    int32_t m = 0;
    if (max > S2_GQCS_MAX) max = S2_GQCS_MAX;
    if (!GetQueuedCompletionStatusEx(l->port, e, (ULONG)max, &n,
                                     timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms, l->shared)) {
        DWORD err = GetLastError();
        return (err == WAIT_TIMEOUT || err == WAIT_IO_COMPLETION) ? 0 : s2_from_oserror((int32_t)err);
    }
    for (i = 0; i < n; i++) {
        s2__rec *r;
        s2_loop *owner;
        s2_event ev;
        if (e[i].lpCompletionKey != S2_KEY_IO || !e[i].lpOverlapped) continue;  /* wakeups */
        r = (s2__rec *)e[i].lpOverlapped;
        owner = r->loop;
        s2__finish(r, e[i].dwNumberOfBytesTransferred, &ev);
        s2__put(owner, r, 1);
        InterlockedDecrement(&owner->pending);
        if (owner == l) out[m++] = ev;
        else s2__post(owner, &ev);  /* another loop's: forward, wake the owner */
    }
    return m;
}

static void CALLBACK s2__apc(ULONG_PTR arg) { (void)arg; }
S2_INTERNAL int32_t s2__backend_wake(s2_loop *l) {
    BOOL ok = l->shared ? QueueUserAPC(s2__apc, l->thread, 0) != 0
                        : PostQueuedCompletionStatus(l->port, 0, S2_KEY_WAKE, NULL);
    return ok ? 0 : s2__err();
}

S2_INTERNAL void s2__backend_close(s2_loop *l) {
    s2__rec *r, *next;
    s2_event ev[64];
    DWORD t0 = GetTickCount();
    uint32_t i;
    /* cancel what is in flight, let the kernel hand the records back (for
     * at most 2 s: a record it still holds is leaked rather than freed) */
    s2__lock(l);
    for (i = 0; i < l->nslots; i++)
        for (r = l->slots[i].chain; r; r = r->next)
            if (!r->posted) CancelIoEx((HANDLE)r->sock, &r->ov);
    s2__unlock(l);
    while (l->pending > 0 && GetTickCount() - t0 < 2000)
        if (s2__backend_wait(l, ev, 64, 100) < 0) break;
    for (r = l->all; r; r = next) {
        next = r->all;
        if (!r->busy) free(r);
    }
    if (l->owned) CloseHandle(l->port);
    if (l->thread) CloseHandle(l->thread);
    s2_mutex_free(&l->mu);
    s2__common_free(&l->c);
    free(l->slots);
    free(l);
}
