/* epoll.c -- the Linux readiness backend.
 *
 * A socket is registered once (WATCH), edge-triggered for both directions;
 * Lua makes the non-blocking syscalls itself and parks only on EAGAIN.
 * epoll_event.data carries (gen << 32 | id), so an event is self-describing
 * and nothing in the shim is indexed by it. A per-loop eventfd makes
 * s2_wakeup (and inbox posts) wake a blocked s2_wait. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "s2_internal.h"

#define S2_WAKE_TAG UINT64_MAX  /* data of the wakeup eventfd; ids never reach it */

struct s2_loop {
    s2_common c;        /* first: see S2_COMMON */
    int epfd;
    int evfd;
    int owned;          /* we created epfd and close it */
};

const char *const s2__backend_name = "epoll";
const uint32_t s2__backend_caps = S2_CAP_READINESS | S2_CAP_SHARED;

static int32_t s2__err(void) { return s2_from_oserror(errno); }

S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **out) {
    struct epoll_event ev;
    int32_t rc;
    s2_loop *l = calloc(1, sizeof *l);
    if (!l) return -S2_ENOMEM;
    if ((rc = s2__common_init(&l->c)) < 0) { free(l); return rc; }
    l->evfd = -1;
    if (handle > INT32_MAX) { rc = -S2_EBADF; goto fail; }
    if (handle >= 0) {
        l->epfd = (int)handle; /* not an epoll fd: the EPOLL_CTL_ADD below fails */
        if (fcntl(l->epfd, F_GETFD) < 0) { rc = s2__err(); goto fail; } /* before evfd takes its number */
    } else {
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) { rc = s2__err(); goto fail; }
        l->owned = 1;
    }
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->evfd < 0) { rc = s2__err(); goto fail; }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = S2_WAKE_TAG;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) < 0) { rc = s2__err(); goto fail; }
    *out = l;
    return 0;
fail:
    if (l->evfd >= 0) close(l->evfd);
    if (l->owned) close(l->epfd);
    s2__common_free(&l->c);
    free(l);
    return rc;
}

S2_INTERNAL void s2__backend_close(s2_loop *l) {
    if (!l->owned) epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->evfd, NULL);
    close(l->evfd);
    if (l->owned) close(l->epfd);
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
        ev.data.u64 = ((uint64_t)op->gen << 32) | op->id;
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

S2_INTERNAL void s2__backend_flush(s2_loop *l) { (void)l; }  /* epoll_ctl acts at once */

static uint32_t s2__flags(uint32_t e) {
    uint32_t f = 0;
    if (e & (EPOLLIN | EPOLLPRI)) f |= S2_READ; /* PRI: urgent (OOB) data */
    if (e & EPOLLOUT) f |= S2_WRITE;
    if (e & (EPOLLRDHUP | EPOLLHUP)) f |= S2_HUP;
    if (e & (EPOLLERR | EPOLLHUP)) f |= S2_ERROR;
    return f;
}

S2_INTERNAL int32_t s2__backend_wait(s2_loop *l, s2_event *out, int32_t max, int32_t timeout_ms) {
    struct epoll_event evs[S2_BATCH_MAX];
    int i, n, m = 0;
    if (max > S2_BATCH_MAX) max = S2_BATCH_MAX;
    n = epoll_wait(l->epfd, evs, max, timeout_ms < 0 ? -1 : timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : s2__err();
    for (i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d == S2_WAKE_TAG) {
            uint64_t v;
            while (read(l->evfd, &v, sizeof v) < 0 && errno == EINTR) {}
            continue;
        }
        out[m].id = (uint32_t)d;
        out[m].gen = (uint32_t)(d >> 32);
        out[m].result = 0;
        out[m].flags = s2__flags(evs[i].events);
        m++;
    }
    return m;
}

S2_INTERNAL int32_t s2__backend_wake(s2_loop *l) {
    uint64_t one = 1;
    ssize_t r;
    do r = write(l->evfd, &one, sizeof one); while (r < 0 && errno == EINTR);
    /* EAGAIN: the counter is saturated, so a wakeup is already pending */
    return (r < 0 && errno != EAGAIN) ? s2__err() : 0;
}
