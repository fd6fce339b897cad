/* test_kqueue_shim.c -- TAP tests of shim/kqueue.c through the shim's ABI,
 * built over the kqueue emulation (spec/kqemu): what the busted suite does
 * not reach, such as loops sharing one kqueue. Uses <sys/event.h> only to
 * create and probe kqueues.
 *
 *   make build/test_kqueue_shim && ./build/test_kqueue_shim
 *
 * Timing is only checked as a lower bound (a wait that must not end early). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sys/event.h>
#include "socket2.h"
#include "tap.h"

/* The flags of the events for id in one harvest (0: none), and how many. */
static uint32_t harvest(s2_loop *l, uint32_t id, int timeout_ms, int *count) {
    s2_event ev[64];
    uint32_t f = 0;
    int i, n = s2_wait(l, ev, 64, timeout_ms);
    if (count) *count = 0;
    for (i = 0; i < n; i++)
        if (ev[i].id == id) { f |= ev[i].flags; if (count) ++*count; }
    return f;
}

static int is_kqueue(int64_t fd) {
    struct timespec zero = { 0, 0 };
    return kevent((int)fd, NULL, 0, NULL, 0, &zero) == 0;
}

static void test_basics(void) {
    s2_loop *l = open_on(-1);
    int64_t h = s2_handle(l);
    s2_op o;
    int pfd[2];
    CHECK(strcmp(s2_backend(), "kqueue") == 0, "s2_backend() is kqueue");
    CHECK((s2_caps() & S2_CAP_READINESS) && !(s2_caps() & S2_CAP_COMPLETION) &&
          (s2_caps() & S2_CAP_SHARED), "caps: readiness and sharing, no completion");
    CHECK(h >= 0 && is_kqueue(h), "s2_handle is a kqueue");
    CHECK(fcntl((int)h, F_GETFD) & FD_CLOEXEC, "the kqueue is close-on-exec");
    memset(&o, 0, sizeof o);
    o.op = S2_OP_RECV; o.fd = 0;
    CHECK(s2_submit(l, &o, 1) == 0 && o.result == -S2_EOPNOTSUPP, "S2_OP_RECV: -S2_EOPNOTSUPP");
    CHECK(submit1(l, S2_OP_CANCEL, 0, 1, 1) == 0, "S2_OP_CANCEL: accepted, nothing to do");
    CHECK(submit1(l, S2_OP_WATCH, -1, 1, 1) == -S2_EBADF, "WATCH of fd -1: -S2_EBADF");
    CHECK(submit1(l, S2_OP_WATCH, 999999, 1, 1) == -S2_EBADF, "WATCH of a closed fd: -S2_EBADF");
    s2_close(l);
    if (pipe(pfd) < 0) bail("pipe");
    l = NULL;
    CHECK(s2_open(pfd[0], &l) < 0 && l == NULL, "s2_open(pipe fd) fails");
    close(pfd[0]); close(pfd[1]);
    CHECK(s2_open(999999, &l) == -S2_EBADF, "s2_open(closed fd): -S2_EBADF");
}

static void test_watch(void) {
    s2_loop *l = open_on(-1);
    int sv[2], n;
    uint32_t f;
    make_pair(sv);
    CHECK(submit1(l, S2_OP_WATCH, sv[0], 7, 3) == 0, "WATCH accepted");
    f = harvest(l, 7, 1000, NULL);
    CHECK(f == S2_WRITE, "first event: S2_WRITE only");
    if (write(sv[1], "hi", 2) != 2) bail("write");
    CHECK(harvest(l, 7, 1000, NULL) & S2_READ, "data: S2_READ");
    CHECK(harvest(l, 7, 0, NULL) == 0, "edge-triggered: unread data is not reported again");
    close(sv[1]);
    f = harvest(l, 7, 1000, &n);
    CHECK((f & S2_READ) && (f & S2_HUP), "peer close: S2_READ | S2_HUP");
    CHECK(n == 1, "READ and WRITE of one socket in one harvest: one event");
    CHECK(submit1(l, S2_OP_WATCH, sv[0], 8, 4) == 0, "re-WATCH accepted (new id, gen)");
    CHECK(submit1(l, S2_OP_UNWATCH, sv[0], 8, 4) == 0, "UNWATCH accepted");
    CHECK(submit1(l, S2_OP_UNWATCH, sv[0], 8, 4) == -S2_ENOENT, "UNWATCH twice: -S2_ENOENT");
    close(sv[0]);
    s2_close(l);
}

static void test_gen(void) {
    s2_loop *l = open_on(-1);
    s2_event ev[4];
    int sv[2], n;
    make_pair(sv);
    submit1(l, S2_OP_WATCH, sv[0], S2_MAX_ID, 0xfffffffeu);
    n = s2_wait(l, ev, 4, 1000);
    CHECK(n == 1 && ev[0].id == S2_MAX_ID && ev[0].gen == 0xfffffffeu && ev[0].result == 0,
          "the largest id and a large gen come back unchanged");
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

static void test_refused(void) {
    s2_loop *l = open_on(-1);
    int srv = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    uint32_t f = 0;
    int i;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (srv < 0 || c < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(srv, (struct sockaddr *)&a, &len) < 0) bail("bind");
    /* bound, not listening: the connect is refused */
    if (connect(c, (struct sockaddr *)&a, sizeof a) == 0 || (errno != EINPROGRESS && errno != ECONNREFUSED))
        bail("connect");
    submit1(l, S2_OP_WATCH, c, 5, 1);
    for (i = 0; i < 10 && !(f & S2_ERROR); i++) f |= harvest(l, 5, 1000, NULL);
    CHECK((f & S2_WRITE) && (f & S2_ERROR), "refused connect: S2_WRITE | S2_ERROR");
    close(c); close(srv);
    s2_close(l);
}

enum { NP = 300 };
static void test_batch(void) {
    static int fds[NP][2];
    static s2_op ops[NP];
    s2_event ev[512];
    int seen[NP] = {0}, i, n, total = 0, dup = 0, both = 0, calls = 0;
    s2_loop *l = open_on(-1);
    for (i = 0; i < NP; i++) {
        make_pair(fds[i]);
        if (write(fds[i][1], "x", 1) != 1) bail("write");
        memset(&ops[i], 0, sizeof ops[i]);
        ops[i].op = S2_OP_WATCH; ops[i].fd = fds[i][0]; ops[i].id = 100 + (uint32_t)i; ops[i].gen = (uint32_t)i;
    }
    CHECK(s2_submit(l, ops, NP) == NP, "300 WATCH ops in one submit");
    while (total < NP && calls++ < 50) {
        n = s2_wait(l, ev, 512, 1000);
        for (i = 0; i < n; i++) {
            uint32_t k = ev[i].id - 100;
            if (k >= NP || ev[i].gen != k) { dup++; continue; }
            if (seen[k]++) dup++; else total++;
            both += (ev[i].flags & (S2_READ | S2_WRITE)) == (S2_READ | S2_WRITE);
        }
    }
    CHECK(total == NP && dup == 0, "every socket once, with its own gen");
    CHECK(both == NP, "each event carries READ and WRITE");
    for (i = 0; i < NP; i++) { close(fds[i][0]); close(fds[i][1]); }
    s2_close(l);
}

static void *waker(void *arg) { s2_wakeup(arg); return NULL; }

static void test_wakeup(void) {
    s2_loop *l = open_on(-1);
    s2_event ev[4];
    pthread_t th;
    double t0;
    int n;
    if (pthread_create(&th, NULL, waker, l) != 0) bail("pthread_create");
    n = s2_wait(l, ev, 4, -1);  /* sticky: ends whether the wakeup came before or during */
    pthread_join(th, NULL);
    CHECK(n == 0, "s2_wakeup from another thread ends wait(-1) with 0 events");
    s2_wakeup(l); s2_wakeup(l);
    CHECK(s2_wait(l, ev, 4, 5000) == 0, "wakeups before the wait: it returns at once");
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 50);
    CHECK(n == 0 && now_ms() - t0 >= 45, "the wakeups were consumed: wait(50) blocks again");
    s2_close(l);
}

/* Two loops on one kqueue: b registers in a's kqueue; each wakeup reaches
 * its own loop only. */
static void test_shared(void) {
    s2_loop *a = open_on(-1), *b;
    s2_event ev[4];
    int64_t h;
    int sv[2], n;
    double t0;
    pthread_t th;
    make_pair(sv);
    h = s2_handle(a);
    b = open_on(h);
    CHECK(s2_handle(b) == h, "s2_open(a's kqueue) shares it");
    CHECK(submit1(b, S2_OP_WATCH, sv[0], 9, 2) == 0, "WATCH on the sharing loop");
    CHECK(harvest(b, 9, 1000, NULL) == S2_WRITE, "the sharing loop harvests the shared kqueue");
    s2_wakeup(a);
    t0 = now_ms();
    n = s2_wait(b, ev, 4, 50);
    CHECK(n == 0 && now_ms() - t0 >= 45, "s2_wakeup(a) does not wake b");
    CHECK(s2_wait(a, ev, 4, -1) == 0, "s2_wakeup(a) wakes a (a lost wakeup hangs: alarm)");
    if (pthread_create(&th, NULL, waker, b) != 0) bail("pthread_create");
    n = s2_wait(b, ev, 4, -1);
    pthread_join(th, NULL);
    CHECK(n == 0, "s2_wakeup(b) from another thread ends b's wait(-1)");
    if (write(sv[1], "z", 1) != 1) bail("write");
    CHECK(harvest(b, 9, 1000, NULL) & S2_READ, "data on b's socket reaches b through its private kqueue");
    s2_close(b);
    CHECK(is_kqueue(h), "closing the sharing loop leaves the kqueue open");
    close(sv[0]); close(sv[1]);
    s2_close(a);
}

int main(void) {
    watchdog(60);
    test_basics();
    test_watch();
    test_gen();
    test_refused();
    test_batch();
    test_wakeup();
    test_shared();
    return done_testing();
}
