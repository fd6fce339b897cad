/* io_uring.c -- the Linux completion backend (liburing).
 *
 * Lua hands over I/O ops with its own buffers (RECV, SEND, RECVFROM, SENDTO,
 * ACCEPT, CONNECT, one-shot POLL); the kernel does the I/O and each op ends
 * in exactly one S2_DONE event whose result is the byte count (the new
 * descriptor for ACCEPT, 0 for CONNECT and POLL) or -S2_E*. CANCEL ends the
 * pending ops of (id, gen) in the given directions: each still ends in its
 * own event, with -S2_ECANCELED, or with its real result when it finished
 * first; the cancel itself makes no event. At most one op may be pending
 * per (id, direction): another is refused with -S2_EBUSY until the first
 * one's event has been harvested.
 *
 * An SQE's user_data is self-describing: gen << 32 | tag << 24 | id, where
 * the tag holds the direction (S2_READ or S2_WRITE) and what kind of op it
 * was. RECVFROM and SENDTO need a msghdr that lives until the completion;
 * those come from a pooled free list (no malloc per op once warm). A table
 * indexed by (id, direction) remembers the pending op's user_data, so that
 * CANCEL can name it exactly, and its msghdr record.
 *
 * s2_wakeup writes an eventfd on which a read is always pending; its
 * completion is swallowed and the read re-armed.
 *
 * Submission is deferred: s2_submit only queues SQEs, and s2_wait hands
 * them to the kernel together with its wait, in one io_uring_enter per
 * turn of the loop, however many ops the turn queued (a parked op costs no
 * syscall of its own). The one exception is CANCEL, which enters at once
 * with whatever is queued before it: Lua may close a descriptor right
 * after cancelling its ops, and an SQE still queued names the descriptor
 * only by number, which a socket opened meanwhile could reuse.
 * s2_open fails with -S2_EPERM / -S2_ENOSYS when the kernel refuses
 * io_uring or lacks one of its ops (before 5.6): Lua then uses epoll. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "s2_internal.h"

#define S2_SQ_ENTRIES 1024    /* a turn of the loop queues up to an op per event */
#define S2_CQ_ENTRIES 4096
#define S2_MSG_CHUNK  64      /* msghdr records allocated at a time */

enum {                        /* user_data tag bits, beside S2_READ/S2_WRITE */
    S2_T_MSG    = 0x04,       /* RECVFROM/SENDTO: a msghdr record is attached */
    S2_T_POLL   = 0x08,       /* POLL: res is a poll mask */
    S2_T_WAKE   = 0x40,       /* the eventfd read behind s2_wakeup */
    S2_T_CANCEL = 0x80        /* a cancel's own completion */
};
#define S2_UD(gen, tag, id) (((uint64_t)(gen) << 32) | ((uint64_t)(tag) << 24) | (id))
#define S2_UD_TAG(ud) ((uint32_t)((ud) >> 24) & 0xff)

typedef struct s2__msgrec {
    struct msghdr msg;
    struct iovec iov;
    uint32_t *addrlenp;       /* RECVFROM: receives msg.msg_namelen */
    struct s2__msgrec *next;  /* free list */
} s2__msgrec;

typedef struct s2__chunk {
    struct s2__chunk *next;
    s2__msgrec recs[S2_MSG_CHUNK];
} s2__chunk;

typedef struct s2__pending {  /* per (id, direction) */
    uint64_t ud;              /* user_data of the pending op, 0: none */
    s2__msgrec *msg;          /* its msghdr record (RECVFROM, SENDTO) */
    uint32_t len;             /* RECV, SEND: the bytes asked for */
    uint32_t short_gen;       /* gen + 1 of a RECV/SEND that moved fewer */
} s2__pending;

struct s2_loop {
    s2_common c;              /* first: see S2_COMMON */
    struct io_uring ring;
    int evfd;
    s2__pending *pend;        /* [id * 2 + (direction == S2_WRITE)] */
    uint32_t npend;
    s2__msgrec *free;
    s2__chunk *chunks;
    uint32_t npending;        /* ops submitted and not yet harvested */
    uint32_t msg_inflight;    /* records the kernel may still write */
    int poll_first;           /* the kernel takes IORING_RECVSEND_POLL_FIRST */
};

const char *const s2__backend_name = "io_uring";
const uint32_t s2__backend_caps = S2_CAP_COMPLETION;

static int32_t s2__err(void) { return s2_from_oserror(errno); }

/* The wakeup reads of every ring land here; the value is never used, so the
 * buffer outlives any ring whose teardown is still in progress. */
static uint64_t s2__wake_sink;

static struct io_uring_sqe *s2__sqe(s2_loop *l) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    if (!sqe) {               /* the SQ ring is full: hand it to the kernel */
        io_uring_submit(&l->ring);
        sqe = io_uring_get_sqe(&l->ring);
    }
    return sqe;
}

static int32_t s2__arm_wake(s2_loop *l) {
    struct io_uring_sqe *sqe = s2__sqe(l);
    if (!sqe) return -S2_EAGAIN;
    io_uring_prep_read(sqe, l->evfd, &s2__wake_sink, sizeof s2__wake_sink, 0);
    io_uring_sqe_set_data64(sqe, S2_UD(0, S2_T_WAKE, 0));
    return 0;
}

/* Does this kernel have every op the backend uses (5.6 and later)? */
static int s2__ops_supported(struct io_uring *ring) {
    static const int ops[] = { IORING_OP_RECV, IORING_OP_SEND, IORING_OP_RECVMSG,
        IORING_OP_SENDMSG, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_POLL_ADD,
        IORING_OP_ASYNC_CANCEL, IORING_OP_READ };
    struct io_uring_probe *pr = io_uring_get_probe_ring(ring);
    size_t i;
    int ok = pr != NULL;
    for (i = 0; ok && i < sizeof ops / sizeof ops[0]; i++) ok = io_uring_opcode_supported(pr, ops[i]);
    if (pr) io_uring_free_probe(pr);
    return ok;
}

/* Ring setups, best first; a kernel that lacks a flag refuses the set with
 * EINVAL. 5.19: the completions' task work runs at the loop's next kernel
 * entry instead of interrupting it (COOP_TASKRUN), and TASKRUN_FLAG says
 * when some is pending. (SINGLE_ISSUER | DEFER_TASKRUN, 6.1, which runs it
 * only when the loop waits, measured the same here, and would tie a loop to
 * the thread that opened it: not used.) */
static const uint32_t s2__setups[] = {
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0
};

S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **out) {
    struct io_uring_params p;
    int32_t rc;
    int r;
    unsigned i = 0;
    s2_loop *l;
    if (handle > INT32_MAX) return -S2_EBADF;
    if (!(l = calloc(1, sizeof *l))) return -S2_ENOMEM;
    if ((rc = s2__common_init(&l->c)) < 0) { free(l); return rc; }
    l->evfd = -1;
    do {                      /* the first set of flags this kernel takes */
        memset(&p, 0, sizeof p);
        p.flags = s2__setups[i];
        p.cq_entries = S2_CQ_ENTRIES;
        if (handle >= 0) {    /* share the kernel's async workers of another ring */
            p.flags |= IORING_SETUP_ATTACH_WQ;
            p.wq_fd = (uint32_t)handle;
        }
        r = io_uring_queue_init_params(S2_SQ_ENTRIES, &l->ring, &p);
    } while (r == -EINVAL && ++i < sizeof s2__setups / sizeof s2__setups[0]);
    if (r < 0) {              /* -ENOSYS, -EPERM: no io_uring here */
        s2__common_free(&l->c);
        free(l);
        return s2_from_oserror(-r);
    }
    if (!s2__ops_supported(&l->ring)) { rc = -S2_ENOSYS; goto fail; }  /* too old */
    l->poll_first = (p.flags & IORING_SETUP_COOP_TASKRUN) != 0;  /* both 5.19 */
    l->evfd = eventfd(0, EFD_CLOEXEC);  /* blocking: the ring polls it */
    if (l->evfd < 0) { rc = s2__err(); goto fail; }
    if ((rc = s2__arm_wake(l)) < 0) goto fail;
    io_uring_submit(&l->ring);
    *out = l;
    return 0;
fail:
    io_uring_queue_exit(&l->ring);
    if (l->evfd >= 0) close(l->evfd);
    s2__common_free(&l->c);
    free(l);
    return rc;
}

static int s2__complete(s2_loop *l, const struct io_uring_cqe *cqe, s2_event *ev);

/* Cancels every pending op and reaps their ends (up to a second), so that
 * the kernel writes no buffer and no msghdr record after s2_close. */
static uint32_t s2__cancel_all(s2_loop *l) {
    uint32_t i;
    struct __kernel_timespec ts = { 1, 0 };
    for (i = 0; i < l->npend && l->npending; i++) {
        struct io_uring_sqe *sqe;
        if (!l->pend[i].ud || !(sqe = s2__sqe(l))) continue;
        io_uring_prep_cancel64(sqe, l->pend[i].ud, 0);
        io_uring_sqe_set_data64(sqe, S2_UD(0, S2_T_CANCEL, 0));
    }
    while (l->npending) {
        struct io_uring_cqe *cqe;
        s2_event ev;
        if (io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL) < 0) break;
        s2__complete(l, cqe, &ev);
        io_uring_cqe_seen(&l->ring, cqe);
    }
    return l->npending;
}

S2_INTERNAL void s2__backend_close(s2_loop *l) {
    /* what is still pending after that: leave its msghdr records allocated
     * (the kernel may write them while it tears the ring down) */
    int keep = s2__cancel_all(l) != 0 && l->msg_inflight != 0;
    io_uring_queue_exit(&l->ring);
    close(l->evfd);
    while (l->chunks && !keep) {
        s2__chunk *next = l->chunks->next;
        free(l->chunks);
        l->chunks = next;
    }
    free(l->pend);
    s2__common_free(&l->c);
    free(l);
}

S2_INTERNAL int64_t s2__backend_handle(s2_loop *l) { return l->ring.ring_fd; }

/* The pending-op entry of (id, direction), growing the table as needed. */
static s2__pending *s2__pend(s2_loop *l, uint32_t id, uint32_t dir, int grow) {
    uint32_t i = id * 2 + (dir == S2_WRITE);
    if (i >= l->npend) {
        uint32_t n = l->npend ? l->npend : 256;
        s2__pending *p;
        if (!grow) return NULL;
        while (n <= i) n *= 2;
        if (!(p = realloc(l->pend, n * sizeof *p))) return NULL;
        memset(p + l->npend, 0, (n - l->npend) * sizeof *p);
        l->pend = p;
        l->npend = n;
    }
    return &l->pend[i];
}

static s2__msgrec *s2__msg_get(s2_loop *l) {
    s2__msgrec *r;
    if (!l->free) {
        int i;
        s2__chunk *c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->next = l->chunks;
        l->chunks = c;
        for (i = S2_MSG_CHUNK - 1; i >= 0; i--) { c->recs[i].next = l->free; l->free = &c->recs[i]; }
    }
    r = l->free;
    l->free = r->next;
    memset(r, 0, sizeof *r);
    l->msg_inflight++;
    return r;
}

static void s2__msg_put(s2_loop *l, s2__msgrec *r) {
    r->next = l->free;
    l->free = r;
    l->msg_inflight--;
}

static int32_t s2__cancel(s2_loop *l, const s2_op *op) {
    uint32_t dir;
    for (dir = S2_READ; dir <= S2_WRITE; dir <<= 1) {
        s2__pending *p;
        struct io_uring_sqe *sqe;
        if (!(op->flags & dir)) continue;
        p = s2__pend(l, op->id, dir, 0);
        /* nothing pending (or it already completed): nothing to cancel */
        if (!p || !p->ud || (uint32_t)(p->ud >> 32) != op->gen) continue;
        if (!(sqe = s2__sqe(l))) return -S2_EAGAIN;
        io_uring_prep_cancel64(sqe, p->ud, 0);
        io_uring_sqe_set_data64(sqe, S2_UD(0, S2_T_CANCEL, 0));
    }
    /* the op may still be queued: the kernel must take its descriptor now;
     * entering for events posts the ends of what the cancel stopped now */
    io_uring_submit_and_get_events(&l->ring);
    return 0;
}

S2_INTERNAL int32_t s2__backend_submit(s2_loop *l, s2_op *op) {
    struct io_uring_sqe *sqe;
    s2__pending *p;
    s2__msgrec *m = NULL;
    uint32_t dir, tag;
    int fd = (int)op->fd;
    void *buf = (void *)(uintptr_t)op->buf, *addr = (void *)(uintptr_t)op->addr;
    uint32_t *addrlenp = (uint32_t *)(uintptr_t)op->addrlenp;

    switch (op->op) {
    case S2_OP_CANCEL: return s2__cancel(l, op);
    case S2_OP_RECV: case S2_OP_ACCEPT: dir = S2_READ; tag = dir; break;
    case S2_OP_SEND: case S2_OP_CONNECT: dir = S2_WRITE; tag = dir; break;
    case S2_OP_RECVFROM: dir = S2_READ; tag = dir | S2_T_MSG; break;
    case S2_OP_SENDTO: dir = S2_WRITE; tag = dir | S2_T_MSG; break;
    case S2_OP_POLL:
        if (op->flags != S2_READ && op->flags != S2_WRITE) return -S2_EINVAL;
        dir = op->flags; tag = dir | S2_T_POLL; break;
    default: return -S2_EOPNOTSUPP;  /* WATCH/UNWATCH: not a readiness backend */
    }
    if (op->fd < 0 || op->fd > INT32_MAX) return -S2_EBADF;
    if (op->len > INT32_MAX) return -S2_EINVAL;
    if (!(p = s2__pend(l, op->id, dir, 1))) return -S2_ENOMEM;
    if (p->ud) return -S2_EBUSY;
    if ((tag & S2_T_MSG) && !(m = s2__msg_get(l))) return -S2_ENOMEM;
    if (!(sqe = s2__sqe(l))) {
        if (m) s2__msg_put(l, m);
        return -S2_EAGAIN;
    }
    p->len = 0;
    switch (op->op) {
    case S2_OP_RECV: case S2_OP_SEND:
        if (op->op == S2_OP_RECV) io_uring_prep_recv(sqe, fd, buf, op->len, (int)op->flags);
        else io_uring_prep_send(sqe, fd, buf, op->len, (int)op->flags);
        /* The last transfer this way moved less than asked: the socket was
         * drained (full), so trying at once would only fail: wait first. */
        if (p->short_gen == op->gen + 1 && l->poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        p->len = op->len;
        break;
    case S2_OP_ACCEPT:
        if (addrlenp) *addrlenp = op->addrlen;  /* the room, read by the kernel */
        io_uring_prep_accept(sqe, fd, addr, addrlenp, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case S2_OP_CONNECT: io_uring_prep_connect(sqe, fd, addr, op->addrlen); break;
    case S2_OP_POLL:
        /* urgent (OOB) data counts as readable, as on epoll */
        io_uring_prep_poll_add(sqe, fd, dir == S2_READ ? POLLIN | POLLPRI | POLLRDHUP : POLLOUT);
        break;
    default:                  /* RECVFROM, SENDTO */
        m->iov.iov_base = buf;
        m->iov.iov_len = op->len;
        m->msg.msg_iov = &m->iov;
        m->msg.msg_iovlen = 1;
        m->msg.msg_name = addr;
        m->msg.msg_namelen = addr ? op->addrlen : 0;
        if (op->op == S2_OP_RECVFROM) {
            m->addrlenp = addrlenp;
            io_uring_prep_recvmsg(sqe, fd, &m->msg, op->flags);
        } else {
            io_uring_prep_sendmsg(sqe, fd, &m->msg, op->flags);
        }
        p->msg = m;
    }
    p->ud = S2_UD(op->gen, tag, op->id);
    io_uring_sqe_set_data64(sqe, p->ud);
    l->npending++;
    return 0;
}

static uint32_t s2__poll_flags(int revents) {
    uint32_t f = 0;
    if (revents & (POLLIN | POLLPRI)) f |= S2_READ;
    if (revents & POLLOUT) f |= S2_WRITE;
    if (revents & (POLLRDHUP | POLLHUP)) f |= S2_HUP;
    if (revents & (POLLERR | POLLHUP)) f |= S2_ERROR;
    return f;
}

/* One CQE -> *ev; 0 when it makes no event (wakeup, a cancel's own). */
static int s2__complete(s2_loop *l, const struct io_uring_cqe *cqe, s2_event *ev) {
    uint64_t ud = cqe->user_data;
    uint32_t tag = S2_UD_TAG(ud), id = (uint32_t)ud & S2_MAX_ID, dir = tag & (S2_READ | S2_WRITE);
    int res = cqe->res;
    s2__pending *p;
    if (tag & S2_T_WAKE) { s2__arm_wake(l); return 0; }
    if (!dir || ud == LIBURING_UDATA_TIMEOUT) return 0;
    if ((p = s2__pend(l, id, dir, 0)) && p->ud == ud) {
        if (!(tag & (S2_T_MSG | S2_T_POLL)))  /* RECV, SEND (ACCEPT, CONNECT: len 0) */
            p->short_gen = res >= 0 && (uint32_t)res < p->len ? (uint32_t)(ud >> 32) + 1 : 0;
        if (p->msg) {
            if (res >= 0 && p->msg->addrlenp) *p->msg->addrlenp = p->msg->msg.msg_namelen;
            s2__msg_put(l, p->msg);
            p->msg = NULL;
        }
        p->ud = 0;
        l->npending--;
    }
    ev->id = id;
    ev->gen = (uint32_t)(ud >> 32);
    ev->flags = S2_DONE | dir;
    if (res < 0) {
        ev->result = s2_from_oserror(-res);
    } else if (tag & S2_T_POLL) {
        ev->result = 0;
        ev->flags |= s2__poll_flags(res);
    } else {
        ev->result = res;
    }
    return 1;
}

/* Completions the kernel holds back until we enter: CQ overflow, or task
 * work that would post them (COOP_TASKRUN). */
static int s2__kernel_holds(s2_loop *l) {
    return (IO_URING_READ_ONCE(*l->ring.sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

/* One io_uring_enter at most: it submits what the turn queued and, when
 * there is nothing to harvest yet, waits for the first completion. */
S2_INTERNAL int32_t s2__backend_wait(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int32_t m = 0;
    int r = 0, ready = io_uring_cq_ready(&l->ring) != 0;
    if (ready || timeout_ms == 0) {
        if (io_uring_sq_ready(&l->ring) || s2__kernel_holds(l))
            r = io_uring_submit_and_get_events(&l->ring);
    } else {
        struct __kernel_timespec ts;
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
        r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, timeout_ms < 0 ? NULL : &ts, NULL);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
        return s2_from_oserror(-r);
    io_uring_for_each_cqe(&l->ring, head, cqe) {
        if (m == max) break;
        seen++;
        m += s2__complete(l, cqe, &out[m]);
    }
    io_uring_cq_advance(&l->ring, seen);
    return m;
}

S2_INTERNAL int32_t s2__backend_wake(s2_loop *l) {
    uint64_t one = 1;
    ssize_t r;
    do r = write(l->evfd, &one, sizeof one); while (r < 0 && errno == EINTR);
    return r < 0 ? s2__err() : 0;
}
