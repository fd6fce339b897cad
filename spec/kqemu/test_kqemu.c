/* test_kqemu.c -- TAP tests of the kqueue semantics spec/kqemu claims.
 * They use only <sys/event.h> and POSIX, so they state what a BSD kernel
 * does too; here they run against the emulation, in both struct layouts:
 *
 *   make build/test_kqemu build/test_kqemu_macos && ./build/test_kqemu
 *
 * Loopback and socketpairs only; nothing sleeps to synchronise (timeouts
 * are only checked as lower bounds). A watchdog alarm turns a hang into a
 * failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sys/event.h>
#include "tap.h"

#ifdef KQEMU_LAYOUT_MACOS
_Static_assert(sizeof(struct kevent) == 32, "macOS struct kevent is 32 bytes");
_Static_assert(offsetof(struct kevent, udata) == 24, "macOS kevent.udata at 24");
#define LAYOUT "macos"
#else
_Static_assert(sizeof(struct kevent) == 64, "FreeBSD 12+ struct kevent is 64 bytes");
_Static_assert(offsetof(struct kevent, udata) == 24 && offsetof(struct kevent, ext) == 32,
               "FreeBSD kevent.udata at 24, ext at 32");
#define LAYOUT "freebsd"
#endif

static const struct timespec zero = { 0, 0 };
static const struct timespec second = { 1, 0 };

static int new_kq(void) {
    int kq = kqueue();
    if (kq < 0) bail("kqueue");
    return kq;
}

/* One change, no eventlist: 0 or -1/errno. */
static int change(int kq, uintptr_t ident, int16_t filter, uint16_t flags, uint32_t fflags, void *udata) {
    struct kevent c;
    EV_SET(&c, ident, filter, flags, fflags, 0, udata);
    return kevent(kq, &c, 1, NULL, 0, NULL);
}

static int harvest(int kq, struct kevent *ev, int max, const struct timespec *ts) {
    return kevent(kq, NULL, 0, ev, max, ts);
}

static void *const UD = (void *)(uintptr_t)0x7edcba9876543210ull;  /* all 64 bits matter */

/* ---------------------------------------------------------------------------- */

static void test_basics(void) {
    int kq = new_kq();
    struct kevent ev[2];
    struct timespec bad = { 0, 1000000000L };
    CHECK(kq >= 0, "kqueue() returns a descriptor");
    CHECK(harvest(kq, ev, 2, &zero) == 0, "nothing registered: timeout 0 returns 0");
    errno = 0;
    CHECK(harvest(-1, ev, 2, &zero) == -1 && errno == EBADF, "kevent on a bad descriptor: EBADF");
    errno = 0;
    CHECK(harvest(kq, ev, 2, &bad) == -1 && errno == EINVAL, "tv_nsec out of range: EINVAL");
    errno = 0;
    CHECK(change(kq, 0, -99, EV_ADD, 0, NULL) == -1 && errno == EINVAL, "unknown filter: EINVAL");
    errno = 0;
    CHECK(change(kq, 424242, EVFILT_READ, EV_ADD, 0, NULL) == -1 && errno == EBADF,
          "EV_ADD of a closed descriptor: EBADF");
    close(kq);
}

static void test_read_clear(void) {
    int kq = new_kq(), sv[2];
    struct kevent ev[4];
    make_pair(sv);
    CHECK(change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, UD) == 0, "EV_ADD|EV_CLEAR EVFILT_READ");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "no data: no event");
    put(sv[1], "hello, world");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].filter == EVFILT_READ &&
          ev[0].ident == (uintptr_t)sv[0], "data: one EVFILT_READ event for the fd");
    CHECK(ev[0].udata == UD, "udata comes back bit for bit");
    CHECK(ev[0].data == 12, "data is the number of bytes readable (12)");
    CHECK((ev[0].flags & EV_CLEAR) && !(ev[0].flags & (EV_EOF | EV_ERROR | EV_ADD)),
          "flags: EV_CLEAR kept, no EV_EOF/EV_ERROR, action bits dropped");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_CLEAR: unread data is not reported again");
    put(sv[1], "abc");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].data == 15, "new data: reported again, data 15");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_read_level(void) {
    int kq = new_kq(), sv[2];
    struct kevent ev[4];
    char buf[8];
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD, 0, NULL);
    put(sv[1], "xy");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && harvest(kq, ev, 4, &zero) == 1,
          "without EV_CLEAR: reported while data is unread");
    if (read(sv[0], buf, sizeof buf) != 2) bail("read");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "level: drained, no more events");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_enable_disable(void) {
    int kq = new_kq(), sv[2];
    struct kevent ev[4];
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, UD);
    CHECK(change(kq, sv[0], EVFILT_READ, EV_DISABLE, 0, NULL) == 0, "EV_DISABLE accepted");
    put(sv[1], "q");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "disabled: no event");
    CHECK(change(kq, sv[0], EVFILT_READ, EV_ENABLE, 0, (void *)&kq) == 0, "EV_ENABLE accepted");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].udata == (void *)&kq,
          "enabled: the pending readiness is reported, with the udata of the last change");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_oneshot_dispatch(void) {
    int kq = new_kq(), sv[2];
    struct kevent ev[4];
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, NULL);
    put(sv[1], "a");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && (ev[0].flags & EV_ONESHOT), "EV_ONESHOT fires once");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_ONESHOT: then nothing, though data is unread");
    errno = 0;
    CHECK(change(kq, sv[0], EVFILT_READ, EV_DELETE, 0, NULL) == -1 && errno == ENOENT,
          "EV_ONESHOT: the knote is gone after it fired (EV_DELETE: ENOENT)");

    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_DISPATCH, 0, NULL);
    CHECK(harvest(kq, ev, 4, &zero) == 1, "EV_DISPATCH fires");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_DISPATCH: then disabled");
    CHECK(change(kq, sv[0], EVFILT_READ, EV_ENABLE, 0, NULL) == 0 && harvest(kq, ev, 4, &zero) == 1,
          "EV_DISPATCH: EV_ENABLE re-arms it");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_delete_modify(void) {
    int kq = new_kq(), sv[2];
    struct kevent ev[4];
    void *ud2 = (void *)(uintptr_t)0x1122334455667788ull;
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, UD);
    CHECK(change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, ud2) == 0, "EV_ADD again modifies");
    put(sv[1], "z");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].udata == ud2, "re-added: one event, the new udata");
    CHECK(change(kq, sv[0], EVFILT_READ, EV_DELETE, 0, NULL) == 0, "EV_DELETE accepted");
    put(sv[1], "z");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "deleted: no events");
    errno = 0;
    CHECK(change(kq, sv[0], EVFILT_READ, EV_DELETE, 0, NULL) == -1 && errno == ENOENT,
          "EV_DELETE of a missing knote: ENOENT");
    errno = 0;
    CHECK(change(kq, sv[0], EVFILT_WRITE, EV_ENABLE, 0, NULL) == -1 && errno == ENOENT,
          "a change without EV_ADD to a missing knote: ENOENT");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_receipt(void) {
    int kq = new_kq(), sv[2], n;
    struct kevent ch[2], ev[4];
    make_pair(sv);
    put(sv[1], "ready");
    EV_SET(&ch[0], sv[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, UD);
    EV_SET(&ch[1], sv[0], EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
    n = kevent(kq, ch, 2, ev, 4, NULL);
    CHECK(n == 2, "EV_RECEIPT: one entry per change, returned at once");
    CHECK(n == 2 && (ev[0].flags & EV_ERROR) && ev[0].data == 0 && ev[0].filter == EVFILT_READ,
          "EV_RECEIPT success: EV_ERROR with data 0");
    CHECK(n == 2 && (ev[1].flags & EV_ERROR) && ev[1].data == ENOENT && ev[1].filter == EVFILT_WRITE,
          "EV_RECEIPT failure: EV_ERROR with data ENOENT");
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].udata == UD,
          "EV_RECEIPT did not drain the pending event");

    /* without EV_RECEIPT: an error goes into the eventlist when it fits... */
    EV_SET(&ch[0], 424242, EVFILT_READ, EV_ADD, 0, 0, NULL);
    n = kevent(kq, ch, 1, ev, 4, &zero);
    CHECK(n == 1 && (ev[0].flags & EV_ERROR) && ev[0].data == EBADF && ev[0].ident == 424242,
          "a failed change with room: an EV_ERROR entry (EBADF)");
    /* ...and the changelist may be the eventlist */
    EV_SET(&ch[0], sv[0], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    EV_SET(&ch[1], 424242, EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    n = kevent(kq, ch, 2, ch, 2, NULL);
    CHECK(n == 2 && ch[0].data == 0 && ch[1].data == EBADF && ch[1].ident == 424242,
          "changelist == eventlist works");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_write(void) {
    int kq = new_kq(), sv[2], filled = 0;
    struct kevent ev[4];
    char buf[65536];
    make_pair(sv);
    change(kq, sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, UD);
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].filter == EVFILT_WRITE && ev[0].data > 0,
          "EVFILT_WRITE: writable at once, data = room > 0");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_CLEAR: writable is not reported again");
    memset(buf, 'w', sizeof buf);
    while (write(sv[0], buf, sizeof buf) > 0) filled++;
    CHECK(errno == EAGAIN && harvest(kq, ev, 4, &zero) == 0, "send buffer full: no event");
    while (read(sv[1], buf, sizeof buf) > 0) {}
    CHECK(harvest(kq, ev, 4, &second) == 1 && ev[0].filter == EVFILT_WRITE,
          "peer drained: writable again");
    close(sv[0]); close(sv[1]); close(kq);
}

static void test_eof(void) {
    int kq = new_kq(), sv[2], n;
    struct kevent ev[4];
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL);
    put(sv[1], "bye");
    close(sv[1]);
    n = harvest(kq, ev, 4, &zero);
    CHECK(n == 1 && (ev[0].flags & EV_EOF) && ev[0].data == 3,
          "peer close: EVFILT_READ with EV_EOF, data = the 3 bytes left");
    change(kq, sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL);
    n = harvest(kq, ev, 4, &zero);
    CHECK(n == 1 && ev[0].filter == EVFILT_WRITE && (ev[0].flags & EV_EOF),
          "peer closed a socketpair: EVFILT_WRITE has EV_EOF too");
    close(sv[0]); close(kq);
}

/* TCP on loopback: listener, connect, half close, refused. */
static int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) bail("socket");
    return fd;
}

static struct sockaddr_in bound(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        bail("bind");
    return a;
}

/* Harvests until (ident, filter) shows up (1 or 0); weof: some other event
 * of ident had EV_EOF. */
static int wait_for(int kq, int ident, int16_t filter, struct kevent *got, int *weof) {
    struct kevent ev[8];
    int i, n, tries;
    *weof = 0;
    memset(got, 0, sizeof *got);
    for (tries = 0; tries < 20; tries++) {
        n = kevent(kq, NULL, 0, ev, 8, &second);
        for (i = 0; i < n; i++) {
            if (ev[i].ident != (uintptr_t)ident) continue;
            if (ev[i].filter == filter) { *got = ev[i]; return 1; }
            if (ev[i].flags & EV_EOF) *weof = 1;
        }
    }
    return 0;
}

static void test_tcp(void) {
    int kq = new_kq(), l = tcp_socket(), c = tcp_socket(), s, n, err = 0, weof;
    struct sockaddr_in a = bound(l);
    struct kevent ev[4], got;
    socklen_t len = sizeof err;
    if (listen(l, 8) < 0) bail("listen");
    change(kq, l, EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) bail("connect");
    change(kq, c, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, UD);
    n = harvest(kq, ev, 4, &second);
    if (n == 1) n += harvest(kq, ev + 1, 3, &second);
    CHECK(n == 2, "a pending connection and a connected client: two events");
    CHECK(n == 2 && (ev[0].ident == (uintptr_t)l || ev[1].ident == (uintptr_t)l),
          "the listener is readable");
    if ((s = accept(l, NULL, NULL)) < 0) bail("accept");
    change(kq, c, EVFILT_READ, EV_ADD | EV_CLEAR, 0, UD);
    shutdown(s, SHUT_WR);
    /* Linux may add a WRITE edge for the FIN's wakeup; BSD would not */
    while (wait_for(kq, c, EVFILT_READ, &got, &weof) && !(got.flags & EV_EOF)) {}
    CHECK((got.flags & EV_EOF) && got.data == 0, "peer shutdown(SHUT_WR): EVFILT_READ with EV_EOF");
    CHECK(!weof, "half close: the write side is not at EOF");
    close(s); close(c); close(l);

    /* refused: a bound socket that does not listen answers with RST */
    l = tcp_socket(); a = bound(l);
    c = tcp_socket();
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS && errno != ECONNREFUSED)
        bail("connect");
    change(kq, c, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, UD);
    n = harvest(kq, ev, 4, &second);
    CHECK(n == 1 && ev[0].filter == EVFILT_WRITE && (ev[0].flags & EV_EOF),
          "refused connect: EVFILT_WRITE with EV_EOF");
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED,
          "SO_ERROR still holds ECONNREFUSED (kevent did not consume it)");
    close(c); close(l); close(kq);
}

static void test_batches(void) {
    enum { NP = 5 };
    int kq = new_kq(), sv[NP][2], i, n, seen[NP][2] = {{0}}, dup = 0, total = 0, calls = 0;
    struct kevent ev[3];
    for (i = 0; i < NP; i++) {
        make_pair(sv[i]);
        put(sv[i][1], "r");
        change(kq, sv[i][0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, (void *)(uintptr_t)(i + 1));
        change(kq, sv[i][0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, (void *)(uintptr_t)(i + 1));
    }
    while ((n = harvest(kq, ev, calls % 2 ? 3 : 1, &zero)) > 0 && calls++ < 100) {
        for (i = 0; i < n; i++) {
            int k = (int)(uintptr_t)ev[i].udata - 1, w = ev[i].filter == EVFILT_WRITE;
            if (k < 0 || k >= NP || ev[i].ident != (uintptr_t)sv[k][0]) { dup++; continue; }
            if (seen[k][w]++) dup++; else total++;
        }
    }
    CHECK(total == 2 * NP && dup == 0,
          "10 ready filters through eventlists of 1 and 3: each exactly once");
    for (i = 0; i < NP; i++) { close(sv[i][0]); close(sv[i][1]); }
    close(kq);
}

static void test_user(void) {
    int kq = new_kq(), n;
    struct kevent ev[4];
    CHECK(change(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, UD) == 0, "EVFILT_USER EV_ADD|EV_CLEAR");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "not triggered: no event");
    change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, UD);
    change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x5, UD);
    n = harvest(kq, ev, 4, &zero);
    CHECK(n == 1 && ev[0].ident == 7 && ev[0].filter == EVFILT_USER && ev[0].udata == UD,
          "NOTE_TRIGGER twice: one event, ident and udata kept");
    CHECK(n == 1 && ev[0].fflags == 0x5, "NOTE_FFCOPY: fflags come back");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_CLEAR: delivered once");
    change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x10, NULL);
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].fflags == 0x15, "NOTE_FFOR merges fflags");
    change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    CHECK(harvest(kq, ev, 4, &zero) == 1 && ev[0].udata == NULL,
          "a change without EV_ADD replaces udata too (as BSD does)");
    errno = 0;
    CHECK(change(kq, 8, EVFILT_USER, 0, NOTE_TRIGGER, NULL) == -1 && errno == ENOENT,
          "NOTE_TRIGGER of a missing ident: ENOENT");
    change(kq, 9, EVFILT_USER, EV_ADD, 0, NULL);
    change(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    CHECK(harvest(kq, ev, 4, &zero) == 1 && harvest(kq, ev, 4, &zero) == 1,
          "without EV_CLEAR: stays triggered");
    change(kq, 9, EVFILT_USER, EV_DELETE, 0, NULL);
    CHECK(harvest(kq, ev, 4, &zero) == 0, "EV_DELETE of a triggered user knote: gone");
    close(kq);
}

static void test_timeout(void) {
    int kq = new_kq();
    struct kevent ev[1];
    struct timespec ts = { 0, 30000000L };
    double t0 = now_ms();
    CHECK(harvest(kq, ev, 1, &ts) == 0 && now_ms() - t0 >= 29.0,
          "a 30 ms timeout returns 0, not before 30 ms");
    close(kq);
}

/* s2_wakeup's use: trigger from one thread while another sleeps. */
struct ping { int kq, go[2], rounds; };

static void *pinger(void *arg) {
    struct ping *p = arg;
    char c;
    int i;
    for (i = 0; i < p->rounds; i++) {
        if (read(p->go[0], &c, 1) != 1) break;
        change(p->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    }
    if (read(p->go[0], &c, 1) != 1) return NULL;
    for (i = 0; i < 20000; i++) change(p->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    change(p->kq, 2, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    return NULL;
}

static void test_threads(void) {
    struct ping p = { new_kq(), { -1, -1 }, 300 };
    struct kevent ev[4];
    pthread_t th;
    int i, ok = 0, done = 0, n;
    if (pipe(p.go) < 0) bail("pipe");
    change(p.kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL);
    change(p.kq, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL);
    if (pthread_create(&th, NULL, pinger, &p) != 0) bail("pthread_create");
    for (i = 0; i < p.rounds; i++) {
        if (write(p.go[1], "g", 1) != 1) bail("write");
        n = harvest(p.kq, ev, 4, NULL);  /* blocks until the other thread triggers */
        ok += n == 1 && ev[0].ident == 1;
    }
    CHECK(ok == p.rounds, "300 wakeups from another thread end a blocked kevent(NULL timeout)");
    if (write(p.go[1], "g", 1) != 1) bail("write");
    while (!done && (n = harvest(p.kq, ev, 4, NULL)) >= 0)
        for (i = 0; i < n; i++) done |= ev[i].ident == 2;
    CHECK(done, "20000 concurrent triggers: the last trigger is never lost");
    pthread_join(th, NULL);
    close(p.go[0]); close(p.go[1]); close(p.kq);
}

static void test_nested(void) {
    int outer = new_kq(), inner = new_kq(), n;
    struct kevent ev[4];
    change(outer, inner, EVFILT_READ, EV_ADD, 0, UD);
    change(inner, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL);
    CHECK(harvest(outer, ev, 4, &zero) == 0, "an idle kqueue is not readable");
    change(inner, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
    n = harvest(outer, ev, 4, &zero);
    CHECK(n == 1 && ev[0].ident == (uintptr_t)inner && ev[0].udata == UD,
          "a kqueue with a pending event is readable in another kqueue");
    CHECK(harvest(inner, ev, 4, &zero) == 1 && harvest(outer, ev, 4, &zero) == 0,
          "harvested: not readable any more");
    close(inner); close(outer);
}

static void test_close(void) {
    int kq = new_kq(), sv[2], again[2], fds0, i;
    struct kevent ev[4];
    make_pair(sv);
    change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, UD);
    close(sv[0]); close(sv[1]);
    make_pair(again);  /* takes the same numbers */
    errno = 0;
    CHECK(again[0] != sv[0] || (change(kq, again[0], EVFILT_READ, EV_DELETE, 0, NULL) == -1 && errno == ENOENT),
          "close() removed the knote: a new socket on that number has none");
    put(again[1], "n");
    CHECK(harvest(kq, ev, 4, &zero) == 0, "and reports nothing");
    close(again[0]); close(again[1]); close(kq);

    fds0 = count_fds();
    for (i = 0; i < 50; i++) close(new_kq());
    CHECK(count_fds() <= fds0 + 1, "50 kqueues opened and closed: no descriptors leak");
}

int main(void) {
    tap_prefix = "[" LAYOUT "] ";
    watchdog(60);
    test_basics();
    test_read_clear();
    test_read_level();
    test_enable_disable();
    test_oneshot_dispatch();
    test_delete_modify();
    test_receipt();
    test_write();
    test_eof();
    test_tcp();
    test_batches();
    test_user();
    test_timeout();
    test_threads();
    test_nested();
    test_close();
    return done_testing();
}
