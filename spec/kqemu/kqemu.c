/* kqemu.c -- TEST-ONLY kqueue()/kevent() on top of Linux epoll, so that
 * socket2's kqueue backend (shim/kqueue.c) runs its test suite on Linux.
 * It models the kqueue semantics that backend relies on; it is not a BSD
 * kernel and proves nothing about one (see README.md, "kqueue").
 *
 * Model:
 * - kqueue() returns an epoll fd ("top") holding three level-triggered
 *   members: one epoll fd per filter (EVFILT_READ, EVFILT_WRITE) and an
 *   eventfd ("pend") that is readable while an EVFILT_USER knote is
 *   triggered. So top polls readable exactly when kevent() has something to
 *   return, and a kqueue inside a kqueue works.
 * - Each fd knote is its own registration in its filter's epoll fd, so one
 *   filter never re-arms the other: EV_CLEAR -> EPOLLET, otherwise level.
 *   A change re-registers the knote (EPOLL_CTL_MOD re-evaluates readiness,
 *   as kqueue does on registration).
 * - EV_ONESHOT, EV_DISPATCH, EV_DISABLE, EV_RECEIPT, EV_ERROR entries and
 *   EVFILT_USER live in user space. As on FreeBSD and macOS, every change
 *   of an existing knote (not only EV_ADD) replaces its udata. State is in a table indexed by the kqueue
 *   fd; a kqueue closed with close() is freed by the next kqueue() call.
 * - EV_EOF: READ on EPOLLRDHUP/EPOLLHUP, WRITE on EPOLLHUP. fflags stay 0:
 *   Linux can only read a socket error with SO_ERROR, which clears it.
 * - One mutex per kqueue: EVFILT_USER NOTE_TRIGGER from another thread is
 *   safe while a thread sleeps in kevent().
 *
 * Known gaps (what a BSD kernel does that this does not):
 * - Order: READ and WRITE reports come in two groups, not interleaved in
 *   activation order. Linux's edge granularity shows through: a WRITE edge
 *   can come with a wakeup BSD would not report (a FIN arriving). Reports
 *   may be spurious, never missing.
 * - fflags are never set; shutdown(SHUT_WR) of our own does not put
 *   EVFILT_WRITE at EOF. Urgent data fires EVFILT_READ (as macOS) but
 *   without EV_OOBAND.
 * - data: READ is FIONREAD (0 for a listener, where BSD gives the backlog),
 *   WRITE is SO_SNDBUF minus SIOCOUTQ.
 * - Only EVFILT_READ, EVFILT_WRITE, EVFILT_USER; no EV_FORCEONESHOT,
 *   NOTE_LOWAT, EVFILT_TIMER/SIGNAL/VNODE/PROC.
 * - Knotes vanish on close() only as far as a reused fd number shows it
 *   (another inode); a dup()ed fd keeps the epoll registration alive.
 * - A kqueue closed with close() keeps its three helper fds until the next
 *   kqueue() call, or until the library that holds the emulation is
 *   unloaded; fork() semantics are not modelled. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <sys/event.h>

#define PEND_TAG UINT64_MAX
#define EPOLL_BATCH 64
enum { R, W };
static const int16_t filters[2] = { EVFILT_READ, EVFILT_WRITE };

typedef struct knote {
    int on, disabled;
    uint16_t flags;        /* as registered, minus the action bits */
    uint32_t sfflags;
    int64_t sdata;
    void *udata;
} knote;

typedef struct fdrec {
    knote kn[2];           /* EVFILT_READ, EVFILT_WRITE */
    uint32_t mask[2];      /* registered epoll events per filter; 0: none */
    dev_t dev;             /* identity of the file the knotes belong to */
    ino_t ino;
} fdrec;

typedef struct uknote { uintptr_t ident; knote kn; int triggered; } uknote;

typedef struct kq {
    int top, ep[2], pendfd, pend_set, turn;
    pthread_mutex_t mu;
    fdrec *fds; int nfds;
    uknote *users; int nusers, capusers;
} kq;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static kq **reg;
static int nreg;

static int grow(void **p, int *cap, int need, size_t size) {
    int n = *cap ? *cap : 16;
    void *q;
    if (need <= *cap) return 0;
    while (n < need) n *= 2;
    if (!(q = realloc(*p, (size_t)n * size))) return -1;
    memset((char *)q + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
    *p = q; *cap = n;
    return 0;
}

static void kq_free(kq *k) {
    if (k->ep[R] >= 0) close(k->ep[R]);
    if (k->ep[W] >= 0) close(k->ep[W]);
    if (k->pendfd >= 0) close(k->pendfd);
    pthread_mutex_destroy(&k->mu);
    free(k->fds); free(k->users); free(k);
}

/* Still open? Its pend eventfd is registered in its top epoll fd only. */
static int kq_alive(kq *k) {
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = PEND_TAG };
    return epoll_ctl(k->top, EPOLL_CTL_MOD, k->pendfd, &e) == 0;
}

/* Frees the kqueues whose fd was closed; under reg_mu. */
static void kq_sweep(void) {
    int i;
    for (i = 0; i < nreg; i++)
        if (reg[i] && !kq_alive(reg[i])) { kq_free(reg[i]); reg[i] = NULL; }
}

/* The table lives in whatever library links the emulation (the kqueue shim
 * itself): LuaJIT's lua_close dlclose()s it, and a copy loaded later starts
 * with an empty table, so nothing would ever sweep the kqueues closed
 * before. They are freed at unload, as closing a real kqueue frees it at
 * once (spec/reliability/regress_spec.lua counts descriptors across closed states). */
__attribute__((destructor)) static void kq_unload(void) {
    int i, live = 0;
    pthread_mutex_lock(&reg_mu);
    kq_sweep();
    for (i = 0; i < nreg; i++) live += reg[i] != NULL;
    if (!live) { free(reg); reg = NULL; nreg = 0; }
    pthread_mutex_unlock(&reg_mu);
}

int kqueue(void) {
    kq *k = calloc(1, sizeof *k);
    struct epoll_event e = { .events = EPOLLIN };
    int i, err = ENOMEM;
    if (!k) { errno = ENOMEM; return -1; }
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_lock(&reg_mu);
    kq_sweep();
    k->top = epoll_create1(EPOLL_CLOEXEC);
    k->ep[R] = epoll_create1(EPOLL_CLOEXEC);
    k->ep[W] = epoll_create1(EPOLL_CLOEXEC);
    k->pendfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->top < 0 || k->ep[R] < 0 || k->ep[W] < 0 || k->pendfd < 0) goto fail;
    for (i = R; i <= W; i++) {
        e.data.u64 = (uint64_t)i;
        if (epoll_ctl(k->top, EPOLL_CTL_ADD, k->ep[i], &e) < 0) goto fail;
    }
    e.data.u64 = PEND_TAG;
    if (epoll_ctl(k->top, EPOLL_CTL_ADD, k->pendfd, &e) < 0 ||
        grow((void **)&reg, &nreg, k->top + 1, sizeof *reg) < 0) goto fail;
    reg[k->top] = k;
    pthread_mutex_unlock(&reg_mu);
    return k->top;
fail:
    if (errno) err = errno;
    if (k->top >= 0) close(k->top);
    kq_free(k);
    pthread_mutex_unlock(&reg_mu);
    errno = err;
    return -1;
}

static kq *kq_get(int fd) {
    kq *k = NULL;
    pthread_mutex_lock(&reg_mu);
    if (fd >= 0 && fd < nreg) k = reg[fd];
    pthread_mutex_unlock(&reg_mu);
    return k;
}

/* fd filters ---------------------------------------------------------------- */

/* Registers knote i of fd as it now is: 0 or an errno. */
static int kn_sync(kq *k, fdrec *r, int fd, int i) {
    knote *kn = &r->kn[i];
    struct epoll_event e = { .events = 0, .data.u64 = (uint64_t)fd };
    int op;
    if (!kn->on || kn->disabled) {
        if (r->mask[i]) epoll_ctl(k->ep[i], EPOLL_CTL_DEL, fd, NULL);
        r->mask[i] = 0;
        return 0;
    }
    e.events = i == R ? EPOLLIN | EPOLLPRI | EPOLLRDHUP : EPOLLOUT;  /* PRI: urgent data */
    if (kn->flags & EV_CLEAR) e.events |= EPOLLET;
    op = r->mask[i] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(k->ep[i], op, fd, &e) < 0) {
        /* the fd was closed and its number reused: epoll forgot it */
        if (op == EPOLL_CTL_ADD || errno != ENOENT ||
            epoll_ctl(k->ep[i], EPOLL_CTL_ADD, fd, &e) < 0) return errno;
    }
    r->mask[i] = e.events;
    return 0;
}

/* Knotes go away when their fd is closed (BSD does that in close(); here a
 * different file behind the same number shows it. Anonymous-inode fds such
 * as eventfds all look alike, so for them this cannot tell). */
static void rec_check(kq *k, fdrec *r, int fd, const struct stat *st) {
    int i;
    if (r->dev == st->st_dev && r->ino == st->st_ino) return;
    for (i = R; i <= W; i++)
        if (r->mask[i]) epoll_ctl(k->ep[i], EPOLL_CTL_DEL, fd, NULL);
    memset(r, 0, sizeof *r);
    r->dev = st->st_dev; r->ino = st->st_ino;
}

static int apply_fd(kq *k, const struct kevent *c) {
    int fd = (int)c->ident, i = c->filter == EVFILT_READ ? R : W, err, fresh = 0;
    uint16_t fl = c->flags;
    struct stat st;
    fdrec *r;
    knote *kn;
    if (c->ident > INT_MAX || fstat(fd, &st) < 0) return EBADF;
    if (fd >= k->nfds) {
        if (!(fl & EV_ADD)) return ENOENT;
        if (grow((void **)&k->fds, &k->nfds, fd + 1, sizeof *k->fds) < 0) return ENOMEM;
    }
    r = &k->fds[fd];
    rec_check(k, r, fd, &st);
    kn = &r->kn[i];
    if (!kn->on) {
        if (!(fl & EV_ADD)) return ENOENT;
        memset(kn, 0, sizeof *kn);
        kn->on = fresh = 1;
    }
    kn->udata = c->udata;  /* as BSD: any change sets udata */
    if (fl & EV_ADD) {
        kn->flags = fl & ~(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_RECEIPT);
        kn->sfflags = c->fflags;
        kn->sdata = c->data;
        kn->disabled = 0;
    }
    if (fl & EV_ENABLE) kn->disabled = 0;
    if (fl & EV_DISABLE) kn->disabled = 1;
    if (fl & EV_DELETE) kn->on = 0;
    if ((err = kn_sync(k, r, fd, i)) && fresh) { kn->on = 0; kn_sync(k, r, fd, i); }
    return err;
}

static int64_t fd_data(int fd, int i) {
    int v = 0, sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    if (i == R) return ioctl(fd, FIONREAD, &v) == 0 ? v : 0;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) < 0 ||
        ioctl(fd, SIOCOUTQ, &v) < 0) return 0;
    return sndbuf > v ? sndbuf - v : 0;
}

/* Harvests filter i's epoll fd without blocking: up to room kevents. */
static int take_fd(kq *k, int i, struct kevent *out, int room) {
    struct epoll_event evs[EPOLL_BATCH];
    int j, n = 0, m = epoll_wait(k->ep[i], evs, room < EPOLL_BATCH ? room : EPOLL_BATCH, 0);
    for (j = 0; j < m; j++) {
        int fd = (int)evs[j].data.u64;
        knote *kn = fd < k->nfds ? &k->fds[fd].kn[i] : NULL;
        uint16_t fl;
        if (!kn || !kn->on || kn->disabled) continue;
        fl = kn->flags;
        if (evs[j].events & (i == R ? EPOLLRDHUP | EPOLLHUP : EPOLLHUP)) fl |= EV_EOF;
        EV_SET(&out[n], (uintptr_t)fd, filters[i], fl, 0, fd_data(fd, i), kn->udata);
        n++;
        if (kn->flags & EV_ONESHOT) kn->on = 0;
        else if (kn->flags & EV_DISPATCH) kn->disabled = 1;
        if (kn->flags & (EV_ONESHOT | EV_DISPATCH)) kn_sync(k, &k->fds[fd], fd, i);
    }
    return n;
}

/* EVFILT_USER --------------------------------------------------------------- */

static int apply_user(kq *k, const struct kevent *c) {
    uint16_t fl = c->flags;
    uint32_t ff = c->fflags & NOTE_FFLAGSMASK;
    uknote *u = NULL;
    int i;
    for (i = 0; i < k->nusers && !u; i++)
        if (k->users[i].ident == c->ident) u = &k->users[i];
    if (!u) {
        if (!(fl & EV_ADD)) return ENOENT;
        if (grow((void **)&k->users, &k->capusers, k->nusers + 1, sizeof *k->users) < 0) return ENOMEM;
        u = &k->users[k->nusers++];
        memset(u, 0, sizeof *u);
        u->ident = c->ident;
        u->kn.on = 1;
    }
    if (fl & EV_DELETE) { *u = k->users[--k->nusers]; return 0; }
    u->kn.udata = c->udata;
    if (fl & EV_ADD) {
        u->kn.flags = fl & ~(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_RECEIPT);
        u->kn.sdata = c->data;
        u->kn.disabled = 0;
    }
    if (fl & EV_ENABLE) u->kn.disabled = 0;
    if (fl & EV_DISABLE) u->kn.disabled = 1;
    switch (c->fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND: u->kn.sfflags &= ff; break;
    case NOTE_FFOR: u->kn.sfflags |= ff; break;
    case NOTE_FFCOPY: u->kn.sfflags = ff; break;
    default: break;
    }
    if (c->fflags & NOTE_TRIGGER) u->triggered = 1;
    return 0;
}

static int take_users(kq *k, struct kevent *out, int room) {
    int i, n = 0;
    for (i = 0; i < k->nusers && n < room; i++) {
        uknote *u = &k->users[i];
        if (!u->triggered || u->kn.disabled) continue;
        EV_SET(&out[n], u->ident, EVFILT_USER, u->kn.flags, u->kn.sfflags & NOTE_FFLAGSMASK,
               u->kn.sdata, u->kn.udata);
        n++;
        if (u->kn.flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH)) u->triggered = 0;
        if (u->kn.flags & EV_ONESHOT) k->users[i--] = k->users[--k->nusers];
        else if (u->kn.flags & EV_DISPATCH) u->kn.disabled = 1;
    }
    return n;
}

/* pend is readable exactly while a user knote is triggered and enabled. */
static void sync_pend(kq *k) {
    int i, want = 0;
    uint64_t v = 1;
    for (i = 0; i < k->nusers && !want; i++)
        want = k->users[i].triggered && !k->users[i].kn.disabled;
    if (want && !k->pend_set) k->pend_set = write(k->pendfd, &v, sizeof v) == sizeof v;
    else if (!want && k->pend_set) { k->pend_set = 0; while (read(k->pendfd, &v, sizeof v) > 0) {} }
}

/* kevent ------------------------------------------------------------------- */

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int left_ms(int64_t deadline) {
    int64_t ns;
    if (deadline == INT64_MAX) return -1;
    ns = deadline - now_ns();
    if (ns <= 0) return 0;
    return ns / 1000000 >= INT_MAX ? INT_MAX : (int)((ns + 999999) / 1000000);
}

int kevent(int kqfd, const struct kevent *changes, int nchanges,
           struct kevent *out, int nevents, const struct timespec *timeout) {
    kq *k = kq_get(kqfd);
    int i, n = 0;
    int64_t deadline = INT64_MAX;
    if (!k || !kq_alive(k)) { errno = EBADF; return -1; }  /* closed, maybe reused */
    if (nchanges < 0 || nevents < 0 || (nchanges && !changes) || (nevents && !out) ||
        (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&k->mu);
    for (i = 0; i < nchanges; i++) {
        struct kevent c = changes[i];  /* out may alias changes: out[n], n <= i */
        int err = c.filter == EVFILT_READ || c.filter == EVFILT_WRITE ? apply_fd(k, &c)
                : c.filter == EVFILT_USER ? apply_user(k, &c) : EINVAL;
        if (!err && !(c.flags & EV_RECEIPT)) continue;
        if (n < nevents) {  /* as BSD: errors (and receipts) go to the eventlist */
            out[n] = c;
            out[n].flags = EV_ERROR;
            out[n].data = err;
            n++;
        } else if (err) {
            sync_pend(k);
            pthread_mutex_unlock(&k->mu);
            errno = err;
            return -1;
        }
    }
    sync_pend(k);
    pthread_mutex_unlock(&k->mu);
    if (n > 0 || nevents == 0) return n;
    if (timeout) deadline = now_ns() + (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
    for (;;) {
        struct epoll_event top[3];
        int m = epoll_wait(k->top, top, 3, left_ms(deadline));
        if (m < 0) return -1;  /* EINTR, as on BSD */
        pthread_mutex_lock(&k->mu);
        n = take_users(k, out, nevents);
        k->turn ^= 1;  /* neither filter starves the other */
        for (i = 0; i < 2 && n < nevents; i++) n += take_fd(k, k->turn ^ i, out + n, nevents - n);
        sync_pend(k);
        pthread_mutex_unlock(&k->mu);
        if (n > 0 || left_ms(deadline) == 0) return n;
    }
}
