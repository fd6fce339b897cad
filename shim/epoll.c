/* epoll.c -- the Linux readiness backend.
 *
 * A socket is registered once (WATCH), edge-triggered for both directions;
 * Lua makes the non-blocking syscalls itself and parks only on EAGAIN.
 * epoll_event.data carries (gen << 32 | owner << 24 | id), so an event is
 * self-describing and nothing in the shim is indexed by it. A per-loop
 * eventfd makes s2_wakeup (and inbox posts) wake a blocked s2_wait.
 *
 * Sharing (s2_open(epfd)): every loop on one epoll fd joins its group
 * (shared.c) and puts its owner index in its registrations. The group's
 * first loop waits on the shared fd itself, with its eventfd in it, as long
 * as it is alone: one epoll_wait per s2_wait, no lock. Every other loop has
 * a private epoll fd holding its own eventfd (level-triggered) and the
 * shared fd (edge-triggered); when the shared fd turns readable it drains
 * it with timeout 0, keeps its own events and forwards the others to their
 * owners' inboxes, which wakes them through their eventfds: nobody else can
 * read those. Draining matters: what a harvest left in the shared fd would
 * wake nobody. Once a second loop joins, the first one moves to the same
 * private shape at its next wait. A wakeup eventfd left in the shared fd
 * (the first loop's, until it moves) is ignored by the others: it is
 * level-triggered, so its owner still sees it, and since the shared fd is
 * edge-triggered in their private fds it does not keep them awake. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "s2_internal.h"

/* data of the loop's own fds: owner bits S2_OWNER_TAG, never a registration's */
#define S2_TAG(n)       (((uint64_t)S2_OWNER_TAG << S2_OWNER_SHIFT) | (n))
#define S2_WAKE_TAG     S2_TAG(1)  /* the loop's eventfd */
#define S2_SHARED_TAG   S2_TAG(2)  /* the shared epoll fd, in a private one */

struct s2_loop {
    s2_common c;        /* first: see S2_COMMON */
    int epfd;           /* the kernel object: shared with the group's loops */
    int evfd;
    int pfd;            /* private epoll fd (evfd + epfd), or -1: wait on epfd */
    int more;           /* a flood outran the last harvest: harvest again */
    int stuck;          /* the first loop could not move to a private fd */
    uint32_t owner;     /* our index in the group */
    uint64_t tag;       /* owner << S2_OWNER_SHIFT, or'ed into registrations */
    s2_group *group;
};

const char *const s2__backend_name = "epoll";
const uint32_t s2__backend_caps = S2_CAP_READINESS | S2_CAP_SHARED;

static int32_t s2__err(void) { return s2_from_oserror(errno); }

static int s2__add(int epfd, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* A private epoll fd watching our eventfd and the shared one. */
static int32_t s2__go_private(s2_loop *l) {
    int p = epoll_create1(EPOLL_CLOEXEC);
    if (p < 0) return s2__err();
    if (s2__add(p, l->evfd, EPOLLIN, S2_WAKE_TAG) < 0 ||
        s2__add(p, l->epfd, EPOLLIN | EPOLLET, S2_SHARED_TAG) < 0) {
        int32_t rc = s2__err();
        close(p);
        return rc;
    }
    l->pfd = p;
    return 0;
}

S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **out) {
    int32_t rc;
    int owned = 0, joined = 0;
    s2_loop *l;
    if (handle > INT32_MAX || (handle >= 0 && fcntl((int)handle, F_GETFD) < 0)) return -S2_EBADF;
    if (!(l = calloc(1, sizeof *l))) return -S2_ENOMEM;
    if ((rc = s2__common_init(&l->c)) < 0) { free(l); return rc; }
    l->pfd = -1;
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->evfd < 0) { rc = s2__err(); goto fail; }
    if (handle >= 0) {
        l->epfd = (int)handle;
        /* fail early on something that is not an epoll fd, without touching
         * what is registered in it: deleting our fresh eventfd from an epoll
         * fd fails with ENOENT, from anything else with EINVAL or EBADF */
        if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->evfd, NULL) < 0 && errno != ENOENT) {
            rc = s2__err();
            goto fail;
        }
    } else {
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) { rc = s2__err(); goto fail; }
        owned = 1;
    }
    if ((rc = s2__group_join(l->epfd, l, owned, &l->group, &l->owner)) < 0) goto fail;
    joined = 1;
    l->tag = (uint64_t)l->owner << S2_OWNER_SHIFT;
    if (l->owner == 0) {
        if (s2__add(l->epfd, l->evfd, EPOLLIN, S2_WAKE_TAG) < 0) { rc = s2__err(); goto fail; }
    } else if ((rc = s2__go_private(l)) < 0) goto fail;
    *out = l;
    return 0;
fail:
    if (joined ? s2__group_leave(l->group, l->owner) : owned) close(l->epfd);
    if (l->evfd >= 0) close(l->evfd);
    s2__common_free(&l->c);
    free(l);
    return rc;
}

S2_INTERNAL void s2__backend_close(s2_loop *l) {
    /* once we have left the group nobody forwards to us or writes evfd,
     * so evfd closes last */
    if (l->pfd < 0) epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->evfd, NULL);
    else close(l->pfd);
    if (s2__group_leave(l->group, l->owner)) close(l->epfd);  /* we were the last */
    close(l->evfd);
    s2__common_free(&l->c);
    free(l);
}

S2_INTERNAL int64_t s2__backend_handle(s2_loop *l) { return l->epfd; }

S2_INTERNAL int32_t s2__backend_submit(s2_loop *l, s2_op *op) {
    struct epoll_event ev;
    int fd = (int)op->fd;
    if (op->fd < 0 || op->fd > INT32_MAX) return -S2_EBADF;
    switch (op->op) {
    case S2_OP_WATCH:
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = ((uint64_t)op->gen << 32) | l->tag | op->id;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
        if (errno == EEXIST && epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
        return s2__err();
    case S2_OP_UNWATCH:
        if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == 0) return 0;
        return s2__err();
    case S2_OP_CANCEL:
        return 0;  /* nothing is pending in the kernel on a readiness backend */
    default:
        return -S2_EOPNOTSUPP;
    }
}

static uint32_t s2__flags(uint32_t e) {
    uint32_t f = 0;
    if (e & (EPOLLIN | EPOLLPRI)) f |= S2_READ; /* PRI: urgent (OOB) data */
    if (e & EPOLLOUT) f |= S2_WRITE;
    if (e & (EPOLLRDHUP | EPOLLHUP)) f |= S2_HUP;
    if (e & (EPOLLERR | EPOLLHUP)) f |= S2_ERROR;
    return f;
}

static void s2__drain_wake(s2_loop *l) {
    uint64_t v;
    while (read(l->evfd, &v, sizeof v) < 0 && errno == EINTR) {}
}

/* The kernel event d (data), evs (events) as an s2_event with id = lo. */
static void s2__event(s2_event *e, uint64_t d, uint32_t lo, uint32_t events) {
    e->id = lo;
    e->gen = (uint32_t)(d >> 32);
    e->result = 0;
    e->flags = s2__flags(events);
}

/* Alone on epfd: one epoll_wait, no lock; the remainder of a full batch
 * stays in epfd's ready list for the next wait. Another loop's event is
 * forwarded, not dropped: a loop may join between our check of the group
 * and this epoll_wait, and register a socket whose (edge-triggered) event
 * then comes here; the forward drops only those of loops that left. */
static int32_t s2__wait_alone(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    struct epoll_event evs[S2_BATCH_MAX];
    s2_event fw[S2_BATCH_MAX];
    int n, i;
    int32_t m = 0, f = 0;
    n = epoll_wait(l->epfd, evs, max, timeout_ms < 0 ? -1 : timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : s2__err();
    for (i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        uint32_t lo = (uint32_t)d;
        if (d == S2_WAKE_TAG) { s2__drain_wake(l); continue; }
        if (lo >> S2_OWNER_SHIFT == l->owner) s2__event(&out[m++], d, lo & S2_MAX_ID, evs[i].events);
        else s2__event(&fw[f++], d, lo, evs[i].events);  /* owner bits kept */
    }
    if (f) s2__group_forward(l->group, fw, f, l->owner);
    return m;
}

/* Harvests the shared epfd and drains it, so that nothing stays there for
 * a loop that sleeps (epfd is edge-triggered in the private fds: what is
 * left in it wakes nobody): ours go to out while there is room, then to
 * our own inbox; other loops' are forwarded to theirs. Only a flood of
 * more than S2_DRAIN batches is left, for our next wait (l->more). */
#define S2_DRAIN 64
static int32_t s2__harvest(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms, int *woke) {
    struct epoll_event evs[S2_BATCH_MAX];
    s2_event fw[S2_BATCH_MAX];
    int32_t m = 0;
    int round;
    l->more = 0;
    for (round = 0; round < S2_DRAIN; round++) {
        int n = epoll_wait(l->epfd, evs, S2_BATCH_MAX, round ? 0 : timeout_ms);
        int32_t f = 0, i;
        if (n < 0) {
            if (errno == EINTR) break;
            return m ? m : s2__err();
        }
        for (i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            uint32_t lo = (uint32_t)d, owner = lo >> S2_OWNER_SHIFT;
            if (owner == S2_OWNER_TAG) {
                /* only the first loop's eventfd is ever in epfd; while it
                 * is, it is ours exactly when we wait on epfd itself */
                if (d == S2_WAKE_TAG && l->pfd < 0) { s2__drain_wake(l); *woke = 1; }
                continue;
            }
            if (owner == l->owner && m < max) s2__event(&out[m++], d, lo & S2_MAX_ID, evs[i].events);
            else s2__event(&fw[f++], d, lo, evs[i].events);  /* owner bits kept */
        }
        if (f) s2__group_forward(l->group, fw, f, l->owner);
        if (n < S2_BATCH_MAX) return m;
    }
    l->more = 1;
    return m;
}

static void s2__move_private(s2_loop *l) {
    if (s2__go_private(l) < 0) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->evfd, NULL);
}

static int64_t s2__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

S2_INTERNAL int32_t s2__backend_wait(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    int woke = 0;
    int64_t deadline = 0;
    if (max > S2_BATCH_MAX) max = S2_BATCH_MAX;
    if (l->pfd < 0) {
        if (!s2__group_shared(l->group)) return s2__wait_alone(l, out, max, timeout_ms);
        /* a second loop joined: move our eventfd out of epfd, or, if that
         * fails, stay (still correct, only noisier for the others) */
        if (!l->stuck) s2__move_private(l);
        if (l->pfd < 0) {
            l->stuck = 1;
            return s2__harvest(l, out, max, timeout_ms < 0 ? -1 : timeout_ms, &woke);
        }
    }
    if (timeout_ms > 0) deadline = s2__now_ms() + timeout_ms;
    for (;;) {
        int harvest = l->more, i;
        int32_t m = 0;
        if (!harvest) {
            struct epoll_event pe[2];
            int pn;
            if (timeout_ms != 0) {  /* going to sleep: forwarders must wake us */
                s2_atomic_set_sc(&l->c.awake, 0);
                if (s2_atomic_get_sc(&l->c.inbox.pending)) { s2_atomic_set(&l->c.awake, 1); return 0; }
            }
            pn = epoll_wait(l->pfd, pe, 2, timeout_ms < 0 ? -1 : timeout_ms);
            s2_atomic_set(&l->c.awake, 1);
            if (pn < 0) return errno == EINTR ? 0 : s2__err();
            if (pn == 0) return 0;  /* the timeout passed */
            for (i = 0; i < pn; i++) {
                if (pe[i].data.u64 == S2_WAKE_TAG) { s2__drain_wake(l); woke = 1; }
                else harvest = 1;
            }
        }
        if (harvest && (m = s2__harvest(l, out, max, 0, &woke)) < 0) return m;
        if (m > 0 || woke || s2__inbox_pending(l)) return m;
        /* only other loops' events: they went to their owners; wait on */
        if (timeout_ms == 0) return 0;
        if (timeout_ms > 0) {
            int64_t left = deadline - s2__now_ms();
            if (left <= 0) return 0;
            timeout_ms = (int32_t)left;
        }
    }
}

S2_INTERNAL int32_t s2__backend_wake(s2_loop *l) {
    uint64_t one = 1;
    ssize_t r;
    do r = write(l->evfd, &one, sizeof one); while (r < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, so a wakeup is already pending */
    return (r < 0 && errno != EAGAIN) ? s2__err() : 0;
}
