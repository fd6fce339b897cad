/* test_shim.c -- TAP tests for the socket2 shim's C ABI (epoll backend).
 *
 *   make build/test_shim && ./build/test_shim
 *
 * Only socketpairs and numeric/loopback lookups are used; nothing sleeps to
 * synchronise (the shim's own timeouts and s2_wakeup do that). Checks marked
 * "# TODO" pin down known shim bugs: they print "not ok" until the bug is
 * fixed but do not fail the run (TAP TODO semantics). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "socket2.h"
#include "tap.h"

/* How many events for id one non-blocking harvest returns. */
static int count_now(s2_loop *l, uint32_t id) {
    s2_event ev[64];
    int i, c = 0, n = s2_wait(l, ev, 64, 0);
    for (i = 0; i < n; i++) c += ev[i].id == id;
    return c;
}

static int is_epoll_fd(int64_t fd) { return fd_is(fd, "anon_inode:[eventpoll]"); }

/* ---- ABI ---------------------------------------------------------------- */

static void test_abi(void) {
    CHECK_EQ(s2_abi_version(), S2_ABI_VERSION, "s2_abi_version() == S2_ABI_VERSION");
    CHECK_STR(s2_backend(), "epoll", "s2_backend() is epoll");
    CHECK(s2_caps() & S2_CAP_READINESS, "caps include S2_CAP_READINESS");
    CHECK(!(s2_caps() & S2_CAP_COMPLETION), "epoll does not claim S2_CAP_COMPLETION");
    /* The Lua cdef relies on this exact layout on every ABI. */
    CHECK_EQ(sizeof(s2_event), 16, "sizeof(s2_event) == 16");
    CHECK(offsetof(s2_event, id) == 0 && offsetof(s2_event, gen) == 4 &&
          offsetof(s2_event, result) == 8 && offsetof(s2_event, flags) == 12,
          "s2_event field offsets 0/4/8/12");
    CHECK_EQ(sizeof(s2_op), 64, "sizeof(s2_op) == 64");
    CHECK(offsetof(s2_op, op) == 0 && offsetof(s2_op, flags) == 4 &&
          offsetof(s2_op, id) == 8 && offsetof(s2_op, gen) == 12 &&
          offsetof(s2_op, fd) == 16 && offsetof(s2_op, buf) == 24 &&
          offsetof(s2_op, addr) == 32 && offsetof(s2_op, addrlenp) == 40 &&
          offsetof(s2_op, len) == 48 && offsetof(s2_op, addrlen) == 52 &&
          offsetof(s2_op, result) == 56 && offsetof(s2_op, aux) == 60,
          "s2_op field offsets");
}

/* ---- errors ------------------------------------------------------------- */

#define X(e) { e, #e }
static const struct { int err; const char *name; } errmap[] = {
    X(EPERM), X(ENOENT), X(EINTR), X(EIO), X(EBADF), X(EAGAIN), X(ENOMEM),
    X(EACCES), X(EFAULT), X(EBUSY), X(EEXIST), X(EINVAL), X(ENFILE), X(EMFILE),
    X(ENOSPC), X(EPIPE), X(ENOSYS), X(ENAMETOOLONG), X(ENOTSOCK),
    X(EDESTADDRREQ), X(EMSGSIZE), X(EPROTOTYPE), X(ENOPROTOOPT),
    X(EPROTONOSUPPORT), X(EOPNOTSUPP), X(EAFNOSUPPORT), X(EADDRINUSE),
    X(EADDRNOTAVAIL), X(ENETDOWN), X(ENETUNREACH), X(ENETRESET),
    X(ECONNABORTED), X(ECONNRESET), X(ENOBUFS), X(EISCONN), X(ENOTCONN),
    X(ESHUTDOWN), X(ETIMEDOUT), X(ECONNREFUSED), X(EHOSTDOWN),
    X(EHOSTUNREACH), X(EALREADY), X(EINPROGRESS), X(ECANCELED), X(ELOOP),
};
#undef X

static void test_errors(void) {
    int i, j, bad = 0;
    CHECK_STR(s2_errname(-S2_ECONNREFUSED), "ECONNREFUSED", "errname(-S2_ECONNREFUSED)");
    CHECK_STR(s2_errname(S2_ECONNREFUSED), "ECONNREFUSED", "errname accepts a positive code");
    CHECK_STR(s2_strerror(-S2_ECONNREFUSED), "connection refused", "strerror(-S2_ECONNREFUSED)");
    CHECK_STR(s2_strerror(S2_ECONNREFUSED), "connection refused", "strerror accepts a positive code");
    CHECK_STR(s2_errname(0), "OK", "errname(0) is OK");
    CHECK_STR(s2_errname(S2_E_COUNT), "EUNKNOWN", "errname(S2_E_COUNT) is EUNKNOWN");
    CHECK_STR(s2_errname(-S2_E_COUNT - 5), "EUNKNOWN", "errname(large negative) is EUNKNOWN");
    CHECK_STR(s2_errname(INT32_MAX), "EUNKNOWN", "errname(INT32_MAX) is EUNKNOWN");
    CHECK_STR(s2_strerror(12345), "unknown error", "strerror(out of range) is the EUNKNOWN message");

    for (i = 0; i < S2_E_COUNT; i++) {
        const char *n = s2_errname(i), *m = s2_strerror(-i);
        if (!n || !m || !*n || !*m) { diag("code %d has no name/message", i); bad++; continue; }
        for (j = 0; j < i; j++)  /* a name shared by two codes would hide one */
            if (strcmp(n, s2_errname(j)) == 0) { diag("codes %d and %d share %s", j, i, n); bad++; }
    }
    CHECK(bad == 0, "every code 0..S2_E_COUNT-1 has a distinct name and a message");

    CHECK_EQ(s2_from_oserror(ECONNREFUSED), -S2_ECONNREFUSED, "from_oserror(ECONNREFUSED)");
    CHECK_EQ(s2_from_oserror(EWOULDBLOCK), -S2_EAGAIN, "from_oserror(EWOULDBLOCK) is -S2_EAGAIN");
    CHECK_EQ(s2_from_oserror(ENOTSUP), -S2_EOPNOTSUPP, "from_oserror(ENOTSUP) is -S2_EOPNOTSUPP");
    CHECK_EQ(s2_from_oserror(EDOM), -S2_EUNKNOWN, "from_oserror(unmapped EDOM) is -S2_EUNKNOWN");
    CHECK_EQ(s2_from_oserror(99999), -S2_EUNKNOWN, "from_oserror(99999) is -S2_EUNKNOWN");
    bad = 0;
    for (i = 0; i < (int)(sizeof errmap / sizeof errmap[0]); i++) {
        int32_t c = s2_from_oserror(errmap[i].err);
        if (c >= 0 || strcmp(s2_errname(c), errmap[i].name) != 0) {
            diag("%s -> %d (%s)", errmap[i].name, c, s2_errname(c));
            bad++;
        }
    }
    CHECK(bad == 0, "every mapped errno round-trips to its own name");
}

/* s2__index negates its argument, so INT32_MIN overflows (UB) and then
 * indexes the table out of bounds. A child process takes the crash. */
static void test_errname_int_min(void) {
    const char *name = "errname/strerror(INT32_MIN) is EUNKNOWN (no crash)";
    int st = 0;
    pid_t pid;
    if (under_valgrind()) { skip(name, "the child's crash would show as a valgrind error"); return; }
    pid = fork();
    if (pid < 0) bail("fork");
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        const char *n, *m;
        if (fd >= 0) dup2(fd, 2);  /* silence sanitizer reports */
        n = s2_errname(INT32_MIN);
        m = s2_strerror(INT32_MIN);
        _exit(n && m && strcmp(n, "EUNKNOWN") == 0 ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    if (!CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, name))
        diag("child %s %d", WIFSIGNALED(st) ? "killed by signal" : "exited",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* ---- s2_open / s2_close --------------------------------------------------- */

static void test_open(void) {
    s2_loop *l = NULL, *dummy = (s2_loop *)&l;
    int p[2], fds0 = count_fds();
    int64_t h;

    CHECK_EQ(s2_open(-1, &l), 0, "s2_open(-1) creates a loop");
    h = s2_handle(l);
    CHECK(l && h >= 0 && is_epoll_fd(h), "s2_handle is an epoll fd");
    CHECK(fcntl((int)h, F_GETFD) & FD_CLOEXEC, "the epoll fd is close-on-exec");
    s2_close(l);
    CHECK_EQ(count_fds(), fds0, "s2_close releases every fd the loop opened");

    CHECK_EQ(s2_open(-1, NULL), -S2_EINVAL, "s2_open(NULL out) is -S2_EINVAL");

    if (pipe(p) != 0) bail("pipe");
    fds0 = count_fds();
    l = dummy;
    h = s2_open(p[0], &l);
    if (!CHECK(h < 0, "s2_open(pipe fd) fails")) s2_close(l);
    else diag("s2_open(pipe) -> %s", s2_errname((int32_t)h));
    CHECK(l == NULL, "a failed s2_open sets *loop to NULL");
    CHECK_EQ(count_fds(), fds0, "a failed s2_open leaks no fd");
    close(p[0]); close(p[1]);
    /* p[0] is closed now and nothing has reused it yet */
    l = dummy;
    CHECK_EQ(s2_open(p[0], &l), -S2_EBADF, "s2_open(closed fd) is -S2_EBADF");

    CHECK_EQ(s2_handle(NULL), -1, "s2_handle(NULL) is -1");
    CHECK_EQ(s2_wakeup(NULL), -S2_EINVAL, "s2_wakeup(NULL) is -S2_EINVAL");
    s2_close(NULL);
    CHECK(1, "s2_close(NULL) is a no-op");
}

static void test_open_shared(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC), sv[2], fds0;
    s2_loop *l = NULL;
    s2_event e;
    if (ep < 0) bail("epoll_create1");
    fds0 = count_fds();
    CHECK_EQ(s2_open(ep, &l), 0, "s2_open(existing epoll fd) shares it");
    CHECK_EQ(s2_handle(l), ep, "s2_handle returns the shared fd");
    /* a shared loop works like an owned one */
    make_pair(sv);
    CHECK_EQ(submit1(l, S2_OP_WATCH, sv[0], 1, 1), 0, "WATCH on a shared loop");
    CHECK(wait_for(l, 1, 1000, &e) && (e.flags & S2_WRITE), "a shared loop delivers events");
    CHECK_EQ(submit1(l, S2_OP_UNWATCH, sv[0], 1, 1), 0, "UNWATCH on a shared loop");
    close(sv[0]); close(sv[1]);
    s2_close(l);
    CHECK(fcntl(ep, F_GETFD) != -1, "closing a shared loop leaves the epoll fd open");
    CHECK_EQ(count_fds(), fds0, "closing a shared loop releases the shim's own fds");
    close(ep);
}

/* Known bugs of the shared-handle path; see the test run's TODO lines. */
static void test_open_shared_bugs(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC), sv[2], n;
    struct epoll_event ee = { .events = EPOLLIN | EPOLLET, .data.u64 = 42 };
    s2_loop *l = NULL, *a, *b;
    s2_event ev[4];
    double t0;
    if (ep < 0) bail("epoll_create1");

    /* The owner of a shared epoll fd has a pending edge-triggered event:
     * s2_open's probe (epoll_wait) must not swallow it. */
    make_pair(sv);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ee) != 0) bail("epoll_ctl");
    put(sv[1], "x");
    if (s2_open(ep, &l) != 0) bail("s2_open(shared)");
    memset(&ee, 0, sizeof ee);
    n = epoll_wait(ep, &ee, 1, 0);
    CHECK(n == 1 && ee.data.u64 == 42, "s2_open(shared) keeps the owner's pending edge event");
    s2_close(l);
    close(sv[0]); close(sv[1]);

    /* A handle above INT32_MAX must not be truncated to a valid fd. */
    l = NULL;
    n = s2_open(((int64_t)1 << 32) | ep, &l);
    if (!CHECK(n < 0, "s2_open(handle > INT32_MAX) is refused")) {
        diag("it opened a loop on fd %lld", (long long)s2_handle(l));
        s2_close(l);
    }
    close(ep);

    /* Two loops on one epoll fd: a wakeup of one must not end the other's
     * wait (see test_shared.c for the rest of sharing). */
    a = open_loop();
    if (s2_open(s2_handle(a), &b) != 0) bail("s2_open(shared)");
    s2_wakeup(a);
    t0 = now_ms();
    n = s2_wait(b, ev, 4, 50);
    CHECK(n == 0 && now_ms() - t0 >= 40, "s2_wakeup(a) does not wake b sharing a's epoll fd");
    s2_close(b);
    s2_close(a);
}

/* ---- s2_wait / s2_wakeup -------------------------------------------------- */

static void test_wait_basic(void) {
    s2_loop *l = open_loop();
    s2_event ev[4];
    double t0, dt;
    int n;
    CHECK_EQ(s2_wait(l, ev, 4, 0), 0, "wait(timeout 0) with nothing registered is 0");
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 50);
    dt = now_ms() - t0;
    CHECK_EQ(n, 0, "wait(timeout 50) times out with 0");
    if (!CHECK(dt >= 40 && dt < 2000, "wait(timeout 50) takes about 50 ms")) diag("took %.1f ms", dt);
    CHECK_EQ(s2_wait(NULL, ev, 4, 0), -S2_EINVAL, "wait(NULL loop) is -S2_EINVAL");
    CHECK_EQ(s2_wait(l, ev, 0, 0), -S2_EINVAL, "wait(max 0) is -S2_EINVAL");
    CHECK_EQ(s2_wait(l, ev, -1, 0), -S2_EINVAL, "wait(max -1) is -S2_EINVAL");
    CHECK_EQ(s2_wait(l, NULL, 4, 0), -S2_EINVAL, "wait(NULL events) is -S2_EINVAL");
    s2_close(l);
}

static void *wake_thread(void *arg) {
    s2_wakeup((s2_loop *)arg);
    return NULL;
}

static void test_wakeup_thread(void) {
    s2_loop *l = open_loop();
    s2_event ev[4];
    pthread_t th;
    int n;
    if (pthread_create(&th, NULL, wake_thread, l) != 0) bail("pthread_create");
    /* Whether the wakeup lands before or during the wait, the wait must
     * end: wakeups are sticky. The watchdog alarm catches a hang. */
    n = s2_wait(l, ev, 4, -1);
    pthread_join(th, NULL);
    CHECK_EQ(n, 0, "s2_wakeup from another thread ends a blocked wait(-1) with 0");
    s2_close(l);
}

static void test_wakeup_sticky(void) {
    s2_loop *l = open_loop();
    s2_event ev[4];
    double t0, dt;
    int n;
    CHECK_EQ(s2_wakeup(l), 0, "s2_wakeup returns 0");
    s2_wakeup(l);
    s2_wakeup(l);  /* several wakeups collapse into one */
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 5000);
    dt = now_ms() - t0;
    CHECK(n == 0 && dt < 1000, "a wakeup before the wait makes it return at once");
    CHECK_EQ(s2_wait(l, ev, 4, 0), 0, "the next wait(0) finds nothing");
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 50);
    dt = now_ms() - t0;
    if (!CHECK(n == 0 && dt >= 40, "the wakeup was consumed: wait(50) blocks again"))
        diag("n %d after %.1f ms", n, dt);
    s2_close(l);
}

/* ---- WATCH / UNWATCH ------------------------------------------------------ */

static void test_watch(void) {
    s2_loop *l = open_loop();
    s2_event e;
    int sv[2], got;
    make_pair(sv);
    CHECK_EQ(submit1(l, S2_OP_WATCH, sv[0], 7, 3), 0, "WATCH id 7 gen 3 accepted");
    memset(&e, 0, sizeof e);
    got = wait_for(l, 7, 1000, &e);
    CHECK(got && e.id == 7 && e.gen == 3 && e.result == 0 && (e.flags & S2_WRITE),
          "first event: id 7, gen 3, result 0, S2_WRITE");
    CHECK(got && !(e.flags & (S2_READ | S2_HUP | S2_ERROR | S2_DONE)),
          "first event: nothing readable, no HUP/ERROR/DONE");

    put(sv[1], "hello");
    got = wait_for(l, 7, 1000, &e);
    CHECK(got && e.gen == 3 && (e.flags & S2_READ), "data from the peer gives S2_READ");
    CHECK_EQ(count_now(l, 7), 0, "edge-triggered: unread data is not reported again");

    close(sv[1]);
    got = wait_for(l, 7, 1000, &e);
    CHECK(got && (e.flags & S2_HUP) && (e.flags & S2_READ), "peer close gives S2_HUP | S2_READ");
    CHECK_EQ(submit1(l, S2_OP_UNWATCH, sv[0], 7, 3), 0, "UNWATCH accepted");
    CHECK_EQ(submit1(l, S2_OP_UNWATCH, sv[0], 7, 3), -S2_ENOENT, "UNWATCH twice is -S2_ENOENT");
    close(sv[0]);

    /* a fresh pair: watch, harvest, unwatch, then data must not show up */
    make_pair(sv);
    submit1(l, S2_OP_WATCH, sv[0], 8, 1);
    CHECK(wait_for(l, 8, 1000, &e), "second pair watched");
    CHECK_EQ(submit1(l, S2_OP_UNWATCH, sv[0], 8, 1), 0, "UNWATCH the second pair");
    put(sv[1], "more");
    CHECK_EQ(count_now(l, 8), 0, "no event after UNWATCH");
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

/* WATCH of an fd already watched re-registers it with the new id/gen. */
static void test_rewatch(void) {
    s2_loop *l = open_loop();
    s2_event e;
    int sv[2];
    make_pair(sv);
    submit1(l, S2_OP_WATCH, sv[0], 9, 1);
    CHECK(wait_for(l, 9, 1000, &e) && e.gen == 1, "WATCH gen 1 delivers gen 1");
    CHECK_EQ(submit1(l, S2_OP_WATCH, sv[0], 10, 2), 0, "re-WATCH of a watched fd accepted");
    put(sv[1], "x");
    CHECK(wait_for(l, 10, 1000, &e) && e.gen == 2 && (e.flags & S2_READ),
          "events now carry the new id and gen");
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

#define NPAIRS 300
static void test_batch(void) {
    static int fds[NPAIRS][2];
    static s2_op ops[NPAIRS];
    int seen[NPAIRS] = {0}, i, n, total = 0, dup = 0, stray = 0, noread = 0, calls = 0;
    s2_event ev[512];
    s2_loop *l = open_loop();
    double end;
    for (i = 0; i < NPAIRS; i++) {
        make_pair(fds[i]);
        put(fds[i][1], "x");  /* before WATCH: one event per fd, with READ */
        ops[i] = mkop(S2_OP_WATCH, fds[i][0], 1000 + (uint32_t)i, (uint32_t)i);
    }
    CHECK_EQ(s2_submit(l, ops, NPAIRS), NPAIRS, "300 WATCH ops in one submit all accepted");
    end = now_ms() + 2000;
    while (total < NPAIRS && now_ms() < end) {
        n = s2_wait(l, ev, 512, 500);
        calls++;
        for (i = 0; i < n; i++) {
            uint32_t k = ev[i].id - 1000;
            if (ev[i].id < 1000 || k >= NPAIRS || ev[i].gen != k) { stray++; continue; }
            if (seen[k]++) dup++; else total++;
            if (!(ev[i].flags & S2_READ)) noread++;
        }
    }
    CHECK_EQ(total, NPAIRS, "all 300 sockets reported");
    CHECK(dup == 0 && stray == 0, "each id exactly once, with its own gen");
    CHECK_EQ(noread, 0, "every batch event has S2_READ");
    diag("harvested in %d wait call(s)", calls);
    for (i = 0; i < NPAIRS; i++) { close(fds[i][0]); close(fds[i][1]); }
    s2_close(l);
}

/* ---- s2_submit ------------------------------------------------------------ */

static void test_submit(void) {
    s2_loop *l = open_loop();
    int sv[2], dead[2];
    uint32_t code;
    s2_event e;
    s2_op ops[7];
    make_pair(sv);
    make_pair(dead);
    close(dead[0]); close(dead[1]);  /* dead[0] is now a closed fd number */

    ops[0] = mkop(S2_OP_WATCH, sv[0], S2_MAX_ID + 1, 0);
    ops[1] = mkop(S2_OP_WATCH, -1, 1, 0);
    ops[2] = mkop(S2_OP_WATCH, dead[0], 2, 0);
    ops[3] = mkop(S2_OP_RECV, sv[0], 3, 0);
    ops[4] = mkop(S2_OP_CANCEL, sv[0], 4, 0);
    ops[5] = mkop(S2_OP_WATCH, sv[0], S2_MAX_ID, 5);  /* largest id is fine */
    ops[6] = mkop(S2_OP_WATCH, (int64_t)1 << 40, 6, 0);
    CHECK_EQ(s2_submit(l, ops, 7), 2, "mixed batch: returns the number accepted");
    CHECK_EQ(ops[0].result, -S2_EINVAL, "id > S2_MAX_ID is -S2_EINVAL");
    CHECK_EQ(ops[1].result, -S2_EBADF, "fd -1 is -S2_EBADF");
    CHECK(ops[2].result < 0, "WATCH of a closed fd is refused");
    CHECK_EQ(ops[3].result, -S2_EOPNOTSUPP, "S2_OP_RECV on epoll is -S2_EOPNOTSUPP");
    CHECK_EQ(ops[4].result, 0, "CANCEL is accepted");
    CHECK_EQ(ops[5].result, 0, "WATCH with id S2_MAX_ID is accepted");
    CHECK_EQ(ops[6].result, -S2_EBADF, "fd > INT32_MAX is -S2_EBADF");
    CHECK(wait_for(l, S2_MAX_ID, 1000, &e) && e.gen == 5, "the accepted WATCH in the batch delivers");

    for (code = 0; code <= 20; code++) {
        int32_t r;
        if (code == S2_OP_WATCH || code == S2_OP_UNWATCH || code == S2_OP_CANCEL) continue;
        r = submit1(l, code, sv[1], 11, 0);
        if (r != -S2_EOPNOTSUPP) { diag("op %u -> %d", code, r); break; }
    }
    CHECK(code > 20, "every other op code is -S2_EOPNOTSUPP");

    CHECK_EQ(s2_submit(NULL, ops, 1), -S2_EINVAL, "submit(NULL loop) is -S2_EINVAL");
    CHECK_EQ(s2_submit(l, ops, -1), -S2_EINVAL, "submit(n < 0) is -S2_EINVAL");
    CHECK_EQ(s2_submit(l, NULL, 1), -S2_EINVAL, "submit(NULL ops, n 1) is -S2_EINVAL");
    CHECK_EQ(s2_submit(l, NULL, 0), 0, "submit(n 0) is 0");
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

/* ---- lookups --------------------------------------------------------------- */

/* Starts a lookup and waits for its event; 1 when it came. */
static int lookup_sync(s2_loop *l, const char *host, const char *service, int family,
                       int flags, uint32_t id, s2_event *e, s2_lookup **req) {
    int32_t rc = s2_lookup_start(l, host, service, family, SOCK_STREAM, 0, flags, id, 9, req);
    if (rc != 0) { diag("s2_lookup_start(%s) -> %s", host, s2_errname(rc)); return 0; }
    return wait_for(l, id, 3000, e);
}

static void test_lookup_numeric(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = NULL;
    struct addrinfo *res;
    int got;
    CHECK_EQ(s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0,
                             AI_NUMERICHOST, 5, 9, &req), 0, "lookup_start(127.0.0.1, 80) is 0");
    got = req && wait_for(l, 5, 3000, &e);
    CHECK(got && e.id == 5 && e.gen == 9 && e.result == 0 && e.flags == (S2_DONE | S2_LOOKUP),
          "its event: id 5, gen 9, result 0, S2_DONE|S2_LOOKUP");
    if (!got) { s2_close(l); return; }
    CHECK_EQ(s2_lookup_take(req, NULL), -S2_EINVAL, "lookup_take(req, NULL) is -S2_EINVAL");
    CHECK_EQ(s2_lookup_take(req, &ai), 0, "lookup_take is 0");
    res = ai;
    if (CHECK(res && res->ai_family == AF_INET && res->ai_addrlen >= sizeof(struct sockaddr_in),
              "first entry is AF_INET")) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)res->ai_addr;
        CHECK(sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sin->sin_port) == 80,
              "first entry is 127.0.0.1 port 80");
    }
    if (res) freeaddrinfo(res);
    s2_close(l);
}

static void test_lookup_localhost(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = NULL;
    struct addrinfo *res;
    int loopback = 0;
    /* A name goes through NSS, which hangs a resolver config on the worker
     * thread's _res; the workers never exit, so valgrind's __libc_freeres
     * at exit orphans it and reports it "definitely lost". */
    if (under_valgrind()) {
        const char *why = "glibc resolver state of the immortal workers looks leaked";
        skip("localhost resolves", why);
        skip("lookup_take(localhost) is 0", why);
        skip("localhost includes a loopback address", why);
        s2_close(l);
        return;
    }
    if (!CHECK(lookup_sync(l, "localhost", "443", AF_UNSPEC, 0, 1, &e, &req) && e.result == 0,
               "localhost resolves")) {
        s2_close(l);
        return;
    }
    CHECK_EQ(s2_lookup_take(req, &ai), 0, "lookup_take(localhost) is 0");
    for (res = ai; res; res = res->ai_next) {
        if (res->ai_family == AF_INET)
            loopback |= ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        else if (res->ai_family == AF_INET6)
            loopback |= IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr);
    }
    CHECK(loopback, "localhost includes a loopback address");
    if (ai) freeaddrinfo(ai);
    s2_close(l);
}

static void test_lookup_noname(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = &e;  /* must be overwritten with NULL */
    if (!CHECK(lookup_sync(l, "not-an-ip", "80", AF_INET, AI_NUMERICHOST, 2, &e, &req),
               "numeric lookup of not-an-ip completes")) {
        s2_close(l);
        return;
    }
    CHECK_EQ(e.result, -S2_EAI_NONAME, "its event result is -S2_EAI_NONAME");
    CHECK_EQ(e.flags, S2_DONE | S2_LOOKUP, "its event flags are S2_DONE|S2_LOOKUP");
    CHECK_EQ(s2_lookup_take(req, &ai), -S2_EAI_NONAME, "lookup_take returns -S2_EAI_NONAME");
    CHECK(ai == NULL, "lookup_take of a failed lookup gives a NULL list");
    s2_close(l);
}

/* The two kinds of request, started the same way for the tests that do
 * the same to both: a forward lookup of 127.0.0.1:80, a reverse one. */
typedef int32_t (*start_fn)(s2_loop *l, uint32_t id, uint32_t gen, s2_lookup **req);

static int32_t start_forward(s2_loop *l, uint32_t id, uint32_t gen, s2_lookup **req) {
    return s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, 0, id, gen, req);
}

static struct sockaddr_in sin_of(const char *ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) bail("inet_pton");
    return a;
}

static int32_t start_reverse(s2_loop *l, uint32_t id, uint32_t gen, s2_lookup **req) {
    struct sockaddr_in a = sin_of("127.0.0.1", 80);
    return s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, id, gen, req);
}

/* Queues n lookups (ids 500..) so that a lookup started next waits behind
 * them: take/cancel then act on a request that is almost surely unfinished.
 * Left to s2_close, which abandons them. */
#define BACKLOG 512
static void start_backlog(s2_loop *l, int n) {
    s2_lookup *req;
    int i;
    for (i = 0; i < n; i++)
        if (start_forward(l, 500 + (uint32_t)i, 1, &req) != 0) bail("s2_lookup_start");
}

static int fd_readable(int fd) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    return poll(&pfd, 1, 0) == 1;
}

/* Once s2_lookup_cancel returns, the worker can no longer post; the loop's
 * eventfd sits in its epoll set, so an unreadable epoll fd right then
 * proves the request was cancelled while still pending. An idle worker
 * often beats the cancel, so the caller keeps the workers busy with another
 * loop's backlog, and this retries (20 times) if it still wins: 1 when a
 * cancel caught the request (id) pending. */
static int cancel_pending(s2_loop *l, start_fn start, uint32_t id) {
    s2_lookup *req;
    s2_event ev[16];
    int tries, pending = 0;
    for (tries = 0; tries < 20 && !pending; tries++) {
        if (start(l, id, (uint32_t)tries, &req) != 0) bail("start a lookup");
        s2_lookup_cancel(req);
        pending = !fd_readable((int)s2_handle(l));
        if (!pending) while (s2_wait(l, ev, 16, 0) > 0) {}
    }
    if (tries > 1) diag("the request beat the cancel %d time(s)", tries - 1);
    return pending;
}

/* Cancels a finished request: the epoll fd turns readable once its event
 * is posted (the loop's eventfd is in it), which tells us it is done. */
static void cancel_finished(start_fn start, uint32_t id, const char *what) {
    s2_loop *l = open_loop();
    s2_lookup *req;
    s2_event e;
    struct pollfd pfd;
    char name[128];
    if (start(l, id, 1, &req) != 0) bail("start a lookup");
    pfd.fd = (int)s2_handle(l); pfd.events = POLLIN; pfd.revents = 0;
    snprintf(name, sizeof name, "a finished %s makes the loop's fd readable", what);
    CHECK(poll(&pfd, 1, 3000) == 1, name);
    s2_lookup_cancel(req);  /* frees it: valgrind/ASan check that */
    snprintf(name, sizeof name, "lookup_cancel after completion of a %s: its event never arrives", what);
    CHECK(!wait_for(l, id, 100, &e), name);
    s2_close(l);
}

/* s2_close abandons 20 pending requests; the workers free them. */
static void close_pending(start_fn start, uint32_t id, const char *what) {
    s2_loop *l = open_loop();
    s2_lookup *req;
    uint32_t i;
    int bad = 0;
    char name[128];
    for (i = 0; i < 20; i++) bad += start(l, id + i, 1, &req) != 0;
    snprintf(name, sizeof name, "20 %ss started", what);
    CHECK_EQ(bad, 0, name);
    s2_close(l);
    snprintf(name, sizeof name, "s2_close with 20 pending %ss returns", what);
    CHECK(1, name);
}

static void test_lookup_take_early(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = NULL;
    int32_t rc;
    start_backlog(l, BACKLOG);
    if (s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, 0, 6, 1, &req) != 0)
        bail("s2_lookup_start");
    /* The worker may rarely have finished already: then take succeeds. */
    rc = s2_lookup_take(req, &ai);
    CHECK(rc == -S2_EAGAIN || rc == 0, "lookup_take before completion is -S2_EAGAIN");
    if (rc == -S2_EAGAIN) {
        CHECK(ai == NULL, "lookup_take before completion leaves the list alone");
        CHECK(wait_for(l, 6, 3000, &e), "the early-taken lookup still completes");
        rc = s2_lookup_take(req, &ai);
        CHECK_EQ(rc, 0, "lookup_take after the event is 0");
    } else {
        const char *why = "the lookup had already finished";
        skip("lookup_take before completion leaves the list alone", why);
        skip("the early-taken lookup still completes", why);
        skip("lookup_take after the event is 0", why);
    }
    if (ai) freeaddrinfo(ai);
    s2_close(l);  /* abandons the backlog; drops events still in the inbox */
}

static void test_lookup_cancel(void) {
    s2_loop *l = open_loop(), *busy = open_loop();
    s2_event e;
    start_backlog(busy, BACKLOG);
    CHECK(cancel_pending(l, start_forward, 77), "lookup_cancel right after start caught the request pending");
    CHECK(!wait_for(l, 77, 200, &e), "after lookup_cancel its event never arrives");
    s2_lookup_cancel(NULL);
    CHECK(1, "lookup_cancel(NULL) is a no-op");
    s2_close(l);
    s2_close(busy);
    cancel_finished(start_forward, 78, "lookup");
}

static void test_lookup_close_pending(void) {
    s2_loop *l;
    s2_lookup *req;
    s2_event e;
    int got;
    close_pending(start_forward, 100, "lookup");
    /* the shared workers are still usable by a new loop */
    l = open_loop();
    got = lookup_sync(l, "127.0.0.1", "80", AF_INET, AI_NUMERICHOST, 1, &e, &req);
    CHECK(got && e.result == 0, "a lookup on a new loop works after that");
    if (got) {
        void *ai = NULL;
        s2_lookup_take(req, &ai);
        if (ai) freeaddrinfo(ai);
    }
    s2_close(l);
}

static void test_lookup_bad_args(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    void *ai;
    CHECK_EQ(s2_lookup_start(NULL, "127.0.0.1", "80", 0, 0, 0, 0, 1, 1, &req), -S2_EINVAL,
             "lookup_start(NULL loop) is -S2_EINVAL");
    CHECK_EQ(s2_lookup_start(l, NULL, NULL, 0, 0, 0, 0, 1, 1, &req), -S2_EINVAL,
             "lookup_start(no host, no service) is -S2_EINVAL");
    CHECK_EQ(s2_lookup_start(l, "127.0.0.1", "80", 0, 0, 0, 0, S2_MAX_ID + 1, 1, &req), -S2_EINVAL,
             "lookup_start(id > S2_MAX_ID) is -S2_EINVAL");
    CHECK_EQ(s2_lookup_start(l, "127.0.0.1", "80", 0, 0, 0, 0, 1, 1, NULL), -S2_EINVAL,
             "lookup_start(NULL out) is -S2_EINVAL");
    CHECK_EQ(s2_lookup_take(NULL, &ai), -S2_EINVAL, "lookup_take(NULL) is -S2_EINVAL");
    s2_close(l);
}

/* Lookup events come through the inbox from worker threads; a small max
 * makes s2_wait drain it across several calls. */
#define NLOOKUPS 100
static void test_lookup_many(void) {
    s2_loop *l = open_loop();
    s2_lookup *reqs[NLOOKUPS];
    int seen[NLOOKUPS] = {0}, i, n, total = 0, dup = 0, stray = 0, failed = 0, calls = 0, most = 0;
    s2_event ev[16];
    double end;
    for (i = 0; i < NLOOKUPS; i++)
        if (s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, AI_NUMERICHOST,
                            200 + (uint32_t)i, 1000 + (uint32_t)i, &reqs[i]) != 0)
            bail("s2_lookup_start");
    end = now_ms() + 4000;
    while (total < NLOOKUPS && now_ms() < end) {
        n = s2_wait(l, ev, 16, 500);
        if (n > 0) calls++;
        if (n > most) most = n;
        for (i = 0; i < n; i++) {
            uint32_t k = ev[i].id - 200;
            if (ev[i].id < 200 || k >= NLOOKUPS || ev[i].gen != 1000 + k) { stray++; continue; }
            if (seen[k]++) dup++; else total++;
            if (ev[i].result != 0 || ev[i].flags != (S2_DONE | S2_LOOKUP)) failed++;
        }
    }
    CHECK_EQ(total, NLOOKUPS, "all 100 lookup events arrive");
    CHECK(dup == 0 && stray == 0, "each lookup id exactly once, with its own gen");
    CHECK_EQ(failed, 0, "every lookup event is result 0, S2_DONE|S2_LOOKUP");
    if (!CHECK(most <= 16 && calls >= (NLOOKUPS + 15) / 16, "s2_wait(max 16) never overfills"))
        diag("most %d in one call, %d calls", most, calls);
    for (i = 0; i < NLOOKUPS; i++) {
        void *ai = NULL;
        if (!seen[i]) continue;  /* s2_close abandons the rest */
        if (s2_lookup_take(reqs[i], &ai) != 0) failed++;
        if (ai) freeaddrinfo(ai);
    }
    CHECK_EQ(failed, 0, "every lookup_take is 0");
    s2_close(l);
}

/* ---- reverse lookups (getnameinfo) ----------------------------------------- */

/* Starts a reverse lookup and waits for its event; 1 when it came. */
static int nameinfo_sync(s2_loop *l, const void *sa, int salen, int flags, uint32_t id,
                         s2_event *e, s2_lookup **req) {
    int32_t rc = s2_nameinfo_start(l, sa, salen, flags, id, 4, req);
    if (rc != 0) { diag("s2_nameinfo_start -> %s", s2_errname(rc)); return 0; }
    return wait_for(l, id, 3000, e);
}

static void test_nameinfo_numeric(void) {
    s2_loop *l = open_loop();
    struct sockaddr_in a = sin_of("127.0.0.1", 8080);
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = NULL;
    char host[64], serv[16];
    int got = nameinfo_sync(l, &a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, 30, &e, &req);
    CHECK(got && e.id == 30 && e.gen == 4 && e.result == 0 && e.flags == (S2_DONE | S2_LOOKUP),
          "nameinfo(127.0.0.1:8080, numeric): event id 30, gen 4, result 0, S2_DONE|S2_LOOKUP");
    if (!got) { s2_close(l); return; }
    CHECK_EQ(s2_lookup_take(req, &ai), -S2_EINVAL, "lookup_take of a reverse lookup is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv), 0, "nameinfo_take is 0");
    CHECK_STR(host, "127.0.0.1", "its host is 127.0.0.1");
    CHECK_STR(serv, "8080", "its service is 8080");

    /* results cut to the room given, always NUL-terminated */
    if (nameinfo_sync(l, &a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, 31, &e, &req)) {
        memset(host, 'x', sizeof host); memset(serv, 'x', sizeof serv);
        CHECK_EQ(s2_nameinfo_take(req, host, 4, serv, 3), 0, "nameinfo_take into 4 and 3 bytes is 0");
        CHECK(strcmp(host, "127") == 0 && strcmp(serv, "80") == 0, "host and service are cut to fit, NUL-terminated");
    }
    if (nameinfo_sync(l, &a, sizeof a, NI_NUMERICHOST, 32, &e, &req))
        CHECK_EQ(s2_nameinfo_take(req, NULL, 0, NULL, 0), 0, "nameinfo_take with no room at all is 0");
    s2_close(l);
}

static void test_nameinfo_names(void) {
    s2_loop *l = open_loop();
    struct sockaddr_in a = sin_of("127.0.0.1", 80);
    s2_lookup *req = NULL;
    s2_event e;
    char host[1025], serv[32];
    if (under_valgrind()) {  /* NSS again: see test_lookup_localhost */
        const char *why = "glibc resolver state of the immortal workers looks leaked";
        skip("nameinfo(127.0.0.1:80, flags 0) completes with 0", why);
        skip("nameinfo_take is 0", why);
        skip("127.0.0.1 has a name (/etc/hosts)", why);
        s2_close(l);
        return;
    }
    if (!CHECK(nameinfo_sync(l, &a, sizeof a, 0, 33, &e, &req) && e.result == 0,
               "nameinfo(127.0.0.1:80, flags 0) completes with 0")) {
        s2_close(l);
        return;
    }
    CHECK_EQ(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv), 0, "nameinfo_take is 0");
    if (!CHECK(host[0] && strcmp(host, "127.0.0.1") != 0, "127.0.0.1 has a name (/etc/hosts)"))
        diag("host \"%s\"", host);
    diag("127.0.0.1:80 is %s:%s", host, serv);
    s2_close(l);
}

static void test_nameinfo_errors(void) {
    s2_loop *l = open_loop();
    struct sockaddr_in a = sin_of("127.0.0.1", 80);
    struct sockaddr_storage big;
    s2_lookup *req = NULL, *fwd = NULL;
    s2_event e;
    char host[64] = "unchanged", serv[16] = "unchanged";
    int rc;
    a.sin_family = 12345;  /* no such family */
    if (CHECK(nameinfo_sync(l, &a, sizeof a, NI_NUMERICHOST, 34, &e, &req),
              "nameinfo of an unknown family completes"))
        CHECK_EQ(e.result, -S2_EAI_FAMILY, "with -S2_EAI_FAMILY");
    CHECK_EQ(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv), -S2_EAI_FAMILY,
             "nameinfo_take returns -S2_EAI_FAMILY");
    CHECK(host[0] == 0 && serv[0] == 0, "a failed nameinfo_take gives empty strings");
    /* the same mapping for a getnameinfo the caller made itself */
    errno = 0;
    rc = getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    CHECK_EQ(s2_from_gaierror(rc, errno), -S2_EAI_FAMILY, "from_gaierror(getnameinfo of a bad family)");
    CHECK_EQ(s2_from_gaierror(0, 0), 0, "from_gaierror(0) is 0");
    CHECK_EQ(s2_from_gaierror(EAI_NONAME, 0), -S2_EAI_NONAME, "from_gaierror(EAI_NONAME)");
    CHECK_EQ(s2_from_gaierror(EAI_AGAIN, 0), -S2_EAI_AGAIN, "from_gaierror(EAI_AGAIN)");
    CHECK_EQ(s2_from_gaierror(EAI_SYSTEM, ECONNREFUSED), -S2_ECONNREFUSED,
             "from_gaierror(EAI_SYSTEM, ECONNREFUSED) maps the errno");
    CHECK_EQ(s2_from_gaierror(EAI_SYSTEM, 0), -S2_EAI_OTHER, "from_gaierror(EAI_SYSTEM, 0) is -S2_EAI_OTHER");
    CHECK_EQ(s2_from_gaierror(12345, 0), -S2_EAI_OTHER, "from_gaierror(unknown) is -S2_EAI_OTHER");

    a = sin_of("127.0.0.1", 80);
    memset(&big, 0, sizeof big);
    CHECK_EQ(s2_nameinfo_start(NULL, &a, sizeof a, 0, 1, 1, &req), -S2_EINVAL,
             "nameinfo_start(NULL loop) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_start(l, NULL, sizeof a, 0, 1, 1, &req), -S2_EINVAL, "nameinfo_start(NULL sa) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_start(l, &a, 0, 0, 1, 1, &req), -S2_EINVAL, "nameinfo_start(salen 0) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_start(l, &big, sizeof big + 1, 0, 1, 1, &req), -S2_EINVAL,
             "nameinfo_start(salen > sockaddr_storage) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, 0, S2_MAX_ID + 1, 1, &req), -S2_EINVAL,
             "nameinfo_start(id > S2_MAX_ID) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, 0, 1, 1, NULL), -S2_EINVAL, "nameinfo_start(NULL out) is -S2_EINVAL");
    CHECK_EQ(s2_nameinfo_take(NULL, host, sizeof host, serv, sizeof serv), -S2_EINVAL,
             "nameinfo_take(NULL) is -S2_EINVAL");
    if (lookup_sync(l, "127.0.0.1", "80", AF_INET, AI_NUMERICHOST, 35, &e, &fwd)) {
        void *ai = NULL;
        CHECK_EQ(s2_nameinfo_take(fwd, host, sizeof host, serv, sizeof serv), -S2_EINVAL,
                 "nameinfo_take of a forward lookup is -S2_EINVAL");
        s2_lookup_take(fwd, &ai);
        if (ai) freeaddrinfo(ai);
    }
    s2_close(l);
}

static void test_nameinfo_cancel(void) {
    s2_loop *l = open_loop(), *busy = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    char host[64], serv[16];
    int32_t rc;
    /* as test_lookup_cancel: the workers are kept busy so that the take and
     * the cancel catch the request still queued */
    start_backlog(busy, BACKLOG);
    if (start_reverse(l, 79, 1, &req) != 0) bail("s2_nameinfo_start");
    rc = s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv);
    if (rc == -S2_EAGAIN) {
        CHECK(1, "nameinfo_take before completion is -S2_EAGAIN");
        CHECK(wait_for(l, 79, 3000, &e), "the early-taken reverse lookup still completes");
        CHECK_EQ(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv), 0, "nameinfo_take after the event is 0");
    } else {
        CHECK_EQ(rc, 0, "nameinfo_take before completion is -S2_EAGAIN (or it had finished: 0)");
        skip("the early-taken reverse lookup still completes", "it had already finished");
        skip("nameinfo_take after the event is 0", "it had already finished");
    }
    CHECK(cancel_pending(l, start_reverse, 80), "lookup_cancel right after nameinfo_start caught it pending");
    CHECK(!wait_for(l, 80, 200, &e), "after lookup_cancel its event never arrives");
    s2_close(l);
    s2_close(busy);
    cancel_finished(start_reverse, 81, "reverse lookup");
}

static void test_nameinfo_close_pending(void) {
    struct sockaddr_in a = sin_of("127.0.0.1", 80);
    s2_loop *l;
    s2_lookup *req;
    s2_event e;
    char host[64], serv[16];
    close_pending(start_reverse, 300, "reverse lookup");
    l = open_loop();
    if (CHECK(nameinfo_sync(l, &a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, 1, &e, &req) && e.result == 0,
              "a reverse lookup on a new loop works after that"))
        s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv);
    s2_close(l);
}

/* ---- main ------------------------------------------------------------------ */

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    watchdog(60);  /* generous: valgrind is slow; natively the run takes < 1 s */
    raise_nofile(2048);  /* the batch test needs 600 fds */

    test_abi();
    test_errors();
    test_errname_int_min();  /* forks: run before any thread exists */
    test_open();
    test_open_shared();
    test_open_shared_bugs();
    test_wait_basic();
    test_wakeup_thread();
    test_wakeup_sticky();
    test_watch();
    test_rewatch();
    test_batch();
    test_submit();
    test_lookup_numeric();
    test_lookup_localhost();
    test_lookup_noname();
    test_lookup_take_early();
    test_lookup_cancel();
    test_lookup_close_pending();
    test_lookup_bad_args();
    test_lookup_many();
    test_nameinfo_numeric();
    test_nameinfo_names();
    test_nameinfo_errors();
    test_nameinfo_cancel();
    test_nameinfo_close_pending();

    return done_testing();
}
