/* kqueue.c -- the macOS/FreeBSD readiness backend, written against
 * <sys/event.h> only.
 *
 * As on epoll: a socket is registered once (WATCH), EVFILT_READ and
 * EVFILT_WRITE with EV_CLEAR (edge-triggered); Lua makes the non-blocking
 * syscalls itself and parks only on EAGAIN. udata carries (gen << 32 | id),
 * so an event is self-describing. An EVFILT_USER knote makes s2_wakeup (and
 * inbox posts) wake a blocked s2_wait.
 *
 * Sharing: a loop sleeps on its "wait queue" wq. Unshared, wq is the kqueue
 * that holds the sockets (kq) and costs nothing. A loop opened on another
 * loop's kqueue gets a private wq holding its own EVFILT_USER plus kq itself
 * (EVFILT_READ: a kqueue is readable while it has events); when wq reports
 * kq, kq is harvested without blocking. The owner of a kqueue moves its
 * EVFILT_USER to a private wq the first time it hands the handle out
 * (s2_handle), so that no other loop can ever harvest its wakeup.
 * Every loop on one kqueue joins its group (shared.c): its owner index
 * travels in bits 24..31 of udata, above the slot id, and an event that a
 * loop harvests for another loop is forwarded to that loop's inbox (which
 * triggers its EVFILT_USER), never returned to the wrong Lua state.
 *
 * On Linux this file is built over spec/kqemu (a test-only emulation). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/event.h>
#include "s2_internal.h"

/* udata is a pointer: (gen << 32 | id) needs 64 bits */
_Static_assert(sizeof(void *) >= 8, "the kqueue backend needs 64-bit pointers");

#define S2_WAKE_TAG   ((void *)(uintptr_t)UINT64_MAX)        /* EVFILT_USER */
#define S2_SHARED_TAG ((void *)(uintptr_t)(UINT64_MAX - 1))  /* kq inside wq */
#define S2_WAKE_IDENT 1
#define S2_MERGE_SIZE (2 * S2_BATCH_MAX)  /* power of two */

struct s2_loop {
    s2_common c;        /* first: see S2_COMMON */
    int kq;             /* sockets are registered here */
    s2_atomic wq;       /* we sleep here: kq, or a private kqueue when sharing */
    int owned;          /* we created kq (the group closes it with its last loop) */
    s2_group *group;    /* the loops on kq */
    uint32_t owner;     /* our index in it */
    uint64_t tag;       /* owner << S2_OWNER_SHIFT, or'ed into udata */
    struct kevent evs[S2_BATCH_MAX];
    s2_event fw[S2_BATCH_MAX];  /* harvested for other loops: forwarded */
    /* READ and WRITE of one socket become one s2_event per wait: an open
     * addressing table (id -> position in out), valid where mstamp == stamp */
    uint32_t stamp;
    uint32_t mstamp[S2_MERGE_SIZE];
    int32_t mpos[S2_MERGE_SIZE];
};

const char *const s2__backend_name = "kqueue";
const uint32_t s2__backend_caps = S2_CAP_READINESS | S2_CAP_SHARED;

static int32_t s2__err(void) { return s2_from_oserror(errno); }

static int s2__kqueue(void) {
    int fd = kqueue();
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* Applies n <= 2 changes without harvesting anything (EV_RECEIPT makes
 * every change report back); 0 or the first error's -S2_E*. */
static int32_t s2__change(int kq, struct kevent *ch, int n) {
    struct kevent res[2];
    int i, got;
    for (i = 0; i < n; i++) ch[i].flags |= EV_RECEIPT;
    do got = kevent(kq, ch, n, res, n, NULL); while (got < 0 && errno == EINTR);
    if (got < 0) return s2__err();
    for (i = 0; i < got; i++)
        if ((res[i].flags & EV_ERROR) && res[i].data != 0) return s2_from_oserror((int32_t)res[i].data);
    return 0;
}

static int32_t s2__add_wake(int q) {
    struct kevent ch[1];
    EV_SET(&ch[0], S2_WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, S2_WAKE_TAG);
    return s2__change(q, ch, 1);
}

/* A private wq for a loop whose sockets live in kq; -1 and *rc on failure. */
static int s2__private_wq(int kq, int32_t *rc) {
    struct kevent ch[1];
    int wq = s2__kqueue();
    if (wq < 0) { *rc = s2__err(); return -1; }
    EV_SET(&ch[0], (uintptr_t)kq, EVFILT_READ, EV_ADD, 0, 0, S2_SHARED_TAG);
    if ((*rc = s2__add_wake(wq)) < 0 || (*rc = s2__change(wq, ch, 1)) < 0) {
        close(wq);
        return -1;
    }
    return wq;
}

S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **out) {
    struct timespec zero = { 0, 0 };
    int32_t rc;
    int wq = -1;
    s2_loop *l = calloc(1, sizeof *l);
    if (!l) return -S2_ENOMEM;
    if ((rc = s2__common_init(&l->c)) < 0) { free(l); return rc; }
    if (handle >= 0) {
        l->kq = (int)handle;
        /* fail early on something that is not a kqueue; harvests nothing */
        if (handle > INT32_MAX || kevent(l->kq, NULL, 0, NULL, 0, &zero) < 0) {
            rc = handle > INT32_MAX ? -S2_EBADF : s2__err();
            goto fail;
        }
        if ((wq = s2__private_wq(l->kq, &rc)) < 0) goto fail;
    } else {
        if ((l->kq = s2__kqueue()) < 0) { rc = s2__err(); goto fail; }
        l->owned = 1;
        if ((rc = s2__add_wake(l->kq)) < 0) { close(l->kq); goto fail; }
        wq = l->kq;
    }
    if ((rc = s2__group_join(l->kq, l, l->owned, &l->group, &l->owner)) < 0) {
        if (wq != l->kq) close(wq);
        if (l->owned) close(l->kq);
        goto fail;
    }
    l->tag = (uint64_t)l->owner << S2_OWNER_SHIFT;
    s2_atomic_set(&l->wq, wq);
    *out = l;
    return 0;
fail:
    s2__common_free(&l->c);
    free(l);
    return rc;
}

S2_INTERNAL void s2__backend_close(s2_loop *l) {
    int wq = s2_atomic_get(&l->wq);
    if (wq != l->kq) close(wq);
    else {  /* our wakeup is still in kq, which may outlive us */
        struct kevent ch[1];
        EV_SET(&ch[0], S2_WAKE_IDENT, EVFILT_USER, EV_DELETE, 0, 0, NULL);
        s2__change(l->kq, ch, 1);
    }
    /* the last loop of the group closes a kq that one of them created */
    if (s2__group_leave(l->group, l->owner)) close(l->kq);
    s2__common_free(&l->c);
    free(l);
}

/* Handing the kqueue out: from now on others may harvest it, so our wakeup
 * moves to a private wq. Called on the loop's own thread, never during its
 * s2_wait; a concurrent s2_wakeup retries on the new wq (see wake). */
S2_INTERNAL int64_t s2__backend_handle(s2_loop *l) {
    struct kevent ch[1];
    int32_t rc;
    int wq;
    if (l->owned && s2_atomic_get(&l->wq) == l->kq && (wq = s2__private_wq(l->kq, &rc)) >= 0) {
        s2_atomic_set(&l->wq, wq);
        EV_SET(&ch[0], S2_WAKE_IDENT, EVFILT_USER, EV_DELETE, 0, 0, NULL);
        s2__change(l->kq, ch, 1);
        s2__backend_wake(l);  /* a wakeup that raced the move is not lost */
    }
    return l->kq;
}

S2_INTERNAL int32_t s2__backend_submit(s2_loop *l, s2_op *op) {
    struct kevent ch[2];
    void *udata = (void *)(uintptr_t)(((uint64_t)op->gen << 32) | l->tag | op->id);
    uintptr_t fd = (uintptr_t)op->fd;
    int32_t rc;
    if (op->fd < 0 || op->fd > INT32_MAX) return -S2_EBADF;
    switch (op->op) {
    case S2_OP_WATCH:
        /* both directions in one call; EV_ADD on a registered fd updates it */
        EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, udata);
        EV_SET(&ch[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, udata);
        if ((rc = s2__change(l->kq, ch, 2)) < 0) {
            EV_SET(&ch[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
            EV_SET(&ch[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
            s2__change(l->kq, ch, 2);
        }
        return rc;
    case S2_OP_UNWATCH:
        EV_SET(&ch[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
        EV_SET(&ch[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
        return s2__change(l->kq, ch, 2);
    case S2_OP_CANCEL:
        return 0;  /* nothing is pending in the kernel on a readiness backend */
    default:
        return -S2_EOPNOTSUPP;
    }
}

/* EVFILT_READ + EV_EOF: the read side is at EOF; an error (fflags) or the
 * write side at EOF means both directions fail fast now. */
static uint32_t s2__flags(const struct kevent *e) {
    if (e->flags & EV_ERROR) return S2_READ | S2_WRITE | S2_ERROR;
    if (e->filter == EVFILT_READ) {
        uint32_t f = S2_READ;
        if (e->flags & EV_EOF) f |= S2_HUP;
        if ((e->flags & EV_EOF) && e->fflags) f |= S2_ERROR;
        return f;
    }
    if (e->filter == EVFILT_WRITE) return (e->flags & EV_EOF) ? S2_WRITE | S2_ERROR : S2_WRITE;
    return 0;
}

/* One kevent() on q; converts into out[m..max). *shared is set when kq
 * (inside a private wq) is ready to be harvested. Another loop's events
 * are forwarded to it. */
static int32_t s2__harvest(s2_loop *l, int q, s2_event *out, int32_t m, int32_t max,
                           const struct timespec *ts, int *shared) {
    int i, n = max - m;
    int32_t f = 0;
    uint32_t h;
    if (n > S2_BATCH_MAX) n = S2_BATCH_MAX;
    n = kevent(q, NULL, 0, l->evs, n, ts);
    if (n < 0) return errno == EINTR ? m : s2__err();
    for (i = 0; i < n; i++) {
        const struct kevent *e = &l->evs[i];
        uint64_t d = (uint64_t)(uintptr_t)e->udata;
        uint32_t lo = (uint32_t)d, id = lo & S2_MAX_ID, f1;
        if (e->udata == S2_WAKE_TAG) continue;
        if (e->udata == S2_SHARED_TAG) { *shared = 1; continue; }
        if (!(f1 = s2__flags(e))) continue;
        if (lo >> S2_OWNER_SHIFT != l->owner) {  /* owner bits stay in id */
            l->fw[f].id = lo;
            l->fw[f].gen = (uint32_t)(d >> 32);
            l->fw[f].result = 0;
            l->fw[f].flags = f1;
            f++;
            continue;
        }
        h = (id * 2654435761u) & (S2_MERGE_SIZE - 1);
        while (l->mstamp[h] == l->stamp) {
            s2_event *o = &out[l->mpos[h]];
            if (o->id == id && o->gen == (uint32_t)(d >> 32)) { o->flags |= f1; break; }
            h = (h + 1) & (S2_MERGE_SIZE - 1);
        }
        if (l->mstamp[h] == l->stamp) continue;  /* merged */
        l->mstamp[h] = l->stamp;
        l->mpos[h] = m;
        out[m].id = id;
        out[m].gen = (uint32_t)(d >> 32);
        out[m].result = 0;
        out[m].flags = f1;
        m++;
    }
    if (f) s2__group_forward(l->group, l->fw, f, l->owner);
    return m;
}

S2_INTERNAL int32_t s2__backend_wait(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    struct timespec ts, zero = { 0, 0 };
    int shared = 0, wq = s2_atomic_get(&l->wq);
    int32_t m;
    if (++l->stamp == 0) {  /* wrapped: forget every old entry */
        memset(l->mstamp, 0, sizeof l->mstamp);
        l->stamp = 1;
    }
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    }
    m = s2__harvest(l, wq, out, 0, max, timeout_ms >= 0 ? &ts : NULL, &shared);
    if (m >= 0 && shared && m < max) {
        int32_t k = s2__harvest(l, l->kq, out, m, max, &zero, &shared);
        if (k >= 0) m = k;
    }
    return m;
}

S2_INTERNAL int32_t s2__backend_wake(s2_loop *l) {
    struct kevent ch[1];
    int wq, r;
    for (;;) {
        wq = s2_atomic_get(&l->wq);
        /* the same udata: BSD replaces udata on every change of a knote */
        EV_SET(&ch[0], S2_WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, S2_WAKE_TAG);
        do r = kevent(wq, ch, 1, NULL, 0, NULL); while (r < 0 && errno == EINTR);
        if (r == 0) return 0;
        /* ENOENT/EBADF: s2_handle moved the wakeup meanwhile; try the new wq */
        if (wq == s2_atomic_get(&l->wq)) return s2__err();
    }
}
