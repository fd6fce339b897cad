/* test_io_uring.c -- TAP tests for the io_uring backend of the shim.
 *
 *   make build/test_io_uring && ./build/test_io_uring
 *
 * Loopback and socketpairs only; nothing sleeps to synchronise. When the
 * kernel refuses io_uring (ENOSYS, EPERM) every test is reported as skipped
 * with the reason, except the ones that check that refusal itself. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "socket2.h"
#include "tap.h"
#include "refuse_uring.h"

/* ---- helpers ------------------------------------------------------------ */

static int32_t submit_io(s2_loop *l, uint32_t op, int fd, uint32_t id, uint32_t gen,
                         void *buf, uint32_t len, uint32_t flags) {
    s2_op o = mkop(op, fd, id, gen);
    o.buf = (uint64_t)(uintptr_t)buf; o.len = len; o.flags = flags;
    return submit_op(l, o);
}

static int32_t submit_cancel(s2_loop *l, uint32_t id, uint32_t gen, uint32_t dirs) {
    s2_op o = mkop(S2_OP_CANCEL, -1, id, gen);
    o.flags = dirs;
    return submit_op(l, o);
}

/* All events a short drain finds (the kernel has answered by then: every
 * op below completes inline or on a loopback event already queued). */
static int drain(s2_loop *l, s2_event *ev, int max) {
    int n = 0, r;
    while (n < max && (r = s2_wait(l, ev + n, max - n, n ? 0 : 20)) > 0) n += r;
    return n;
}

/* A socket of type bound to 127.0.0.1, port 0 (a stream one listens);
 * *sa gets its address. */
static int loopback_socket(int type, struct sockaddr_in *sa) {
    socklen_t len = sizeof *sa;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof *sa) != 0 ||
        (type == SOCK_STREAM && listen(fd, 64) != 0) || getsockname(fd, (struct sockaddr *)sa, &len) != 0)
        bail("loopback socket");
    return fd;
}

static int tcp_listener(struct sockaddr_in *sa) { return loopback_socket(SOCK_STREAM, sa); }
static int udp_bound(struct sockaddr_in *sa) { return loopback_socket(SOCK_DGRAM, sa); }

#define DONE_R (S2_DONE | S2_READ)
#define DONE_W (S2_DONE | S2_WRITE)

/* ---- tests -------------------------------------------------------------- */

static void test_abi(void) {
    CHECK(strcmp(s2_backend(), "io_uring") == 0, "s2_backend() is io_uring");
    CHECK_EQ(s2_caps(), S2_CAP_COMPLETION, "caps are exactly S2_CAP_COMPLETION");
}

static void test_open_close(void) {
    int before = count_fds();
    s2_loop *l = open_loop(), *l2 = NULL;
    int64_t h = s2_handle(l);
    CHECK(fd_is(h, "anon_inode:[io_uring]"), "s2_handle() is the ring's fd");
    CHECK_EQ(s2_open(h, &l2), 0, "s2_open(another ring's fd) shares its workers (ATTACH_WQ)");
    if (l2) {
        CHECK(s2_handle(l2) != h, "the sharing loop has its own ring");
        s2_close(l2);
    }
    CHECK(s2_open(0, &l2) < 0 && !l2, "s2_open(a descriptor that is no ring) fails");
    CHECK_EQ(s2_open((int64_t)1 << 40, &l2), -S2_EBADF, "s2_open(handle > INT32_MAX) is -S2_EBADF");
    s2_close(l);
    CHECK_EQ(count_fds(), before, "s2_close releases every descriptor");
}

/* A child whose io_uring_setup fails with err: s2_open must return -code. */
static void test_refused(int err, int32_t code, const char *name) {
    pid_t pid = fork();
    int st = 0;
    if (pid == 0) {
        s2_loop *l = NULL;
        if (refuse_io_uring(err) != 0) _exit(3);
        _exit(s2_open(-1, &l) == code && l == NULL ? 0 : 1);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid) bail("fork");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
        skip(name, "cannot install a seccomp filter here");
    else
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, name);
}

static void *wake_thread(void *arg) {
    s2_wakeup((s2_loop *)arg);
    return NULL;
}

static void test_wait_and_wakeup(void) {
    s2_loop *l = open_loop();
    s2_event ev[4];
    pthread_t th;
    double t0, dt;
    int n;
    CHECK_EQ(s2_wait(l, ev, 4, 0), 0, "wait(0) with nothing pending is 0");
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 50);
    dt = now_ms() - t0;
    if (!CHECK(n == 0 && dt >= 40, "wait(50) times out with 0")) diag("n %d after %.1f ms", n, dt);
    if (under_valgrind()) {
        /* valgrind 3.19 holds its big lock across io_uring_enter, so the
         * waking thread never runs while the loop waits */
        skip("s2_wakeup from another thread ends wait(-1)", "under valgrind");
    } else {
        if (pthread_create(&th, NULL, wake_thread, l) != 0) bail("pthread_create");
        n = s2_wait(l, ev, 4, -1);  /* the watchdog catches a hang */
        pthread_join(th, NULL);
        CHECK_EQ(n, 0, "s2_wakeup from another thread ends wait(-1) with 0 events");
    }
    s2_wakeup(l); s2_wakeup(l); s2_wakeup(l);
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 5000);
    CHECK(n == 0 && now_ms() - t0 < 1000, "wakeups before the wait make it return at once");
    CHECK_EQ(s2_wait(l, ev, 4, 0), 0, "several wakeups collapse into one");
    t0 = now_ms();
    n = s2_wait(l, ev, 4, 30);
    CHECK(n == 0 && now_ms() - t0 >= 25, "the wakeup is consumed: wait(30) blocks again");
    s2_close(l);
}

static void test_refusals(void) {
    s2_loop *l = open_loop();
    int sv[2];
    char buf[8];
    s2_op o;
    make_pair(sv);
    CHECK_EQ(submit_op(l, mkop(S2_OP_WATCH, sv[0], 1, 0)), -S2_EOPNOTSUPP, "WATCH is -S2_EOPNOTSUPP");
    CHECK_EQ(submit_op(l, mkop(S2_OP_UNWATCH, sv[0], 1, 0)), -S2_EOPNOTSUPP, "UNWATCH is -S2_EOPNOTSUPP");
    CHECK_EQ(submit_op(l, mkop(99, sv[0], 1, 0)), -S2_EOPNOTSUPP, "an unknown op is -S2_EOPNOTSUPP");
    CHECK_EQ(submit_io(l, S2_OP_RECV, -1, 1, 0, buf, 8, 0), -S2_EBADF, "fd -1 is -S2_EBADF");
    CHECK_EQ(submit_io(l, S2_OP_RECV, sv[0], S2_MAX_ID + 1, 0, buf, 8, 0), -S2_EINVAL,
             "id > S2_MAX_ID is -S2_EINVAL");
    o = mkop(S2_OP_POLL, sv[0], 2, 0);
    o.flags = S2_READ | S2_WRITE;
    CHECK_EQ(submit_op(l, o), -S2_EINVAL, "POLL of both directions at once is -S2_EINVAL");
    CHECK_EQ(submit_cancel(l, 3, 0, S2_READ | S2_WRITE), 0, "CANCEL of nothing is accepted");
    CHECK_EQ(s2_wait(l, (s2_event *)buf, 0, 0), -S2_EINVAL, "wait(max 0) is -S2_EINVAL");
    {
        s2_event ev[8];
        CHECK_EQ(drain(l, ev, 8), 0, "refused ops and a cancel of nothing make no event");
    }
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

static void test_recv_send(void) {
    s2_loop *l = open_loop();
    int sv[2];
    char rbuf[16], sbuf[] = "hello";
    s2_event e;
    make_pair(sv);
    memset(rbuf, 0, sizeof rbuf);
    CHECK_EQ(submit_io(l, S2_OP_RECV, sv[0], 5, 7, rbuf, sizeof rbuf, 0), 0, "RECV accepted");
    CHECK_EQ(submit_io(l, S2_OP_RECV, sv[0], 5, 7, rbuf, sizeof rbuf, 0), -S2_EBUSY,
             "a second op in the same direction is -S2_EBUSY while the first is pending");
    CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "nothing to read: the RECV stays pending");
    CHECK_EQ(submit_io(l, S2_OP_SEND, sv[1], 6, 1, sbuf, 5, MSG_NOSIGNAL), 0, "SEND accepted");
    {
        s2_event ev[4];
        int i, n = drain(l, ev, 4), gr = 0, gs = 0;
        for (i = 0; i < n; i++) {
            if (ev[i].id == 5 && ev[i].gen == 7 && ev[i].flags == DONE_R && ev[i].result == 5) gr++;
            if (ev[i].id == 6 && ev[i].gen == 1 && ev[i].flags == DONE_W && ev[i].result == 5) gs++;
        }
        CHECK(n == 2 && gs == 1, "SEND completes: {id, gen, result 5, S2_DONE|S2_WRITE}");
        CHECK(gr == 1, "RECV completes: {id, gen, result 5, S2_DONE|S2_READ}");
        CHECK(memcmp(rbuf, "hello", 5) == 0, "the data is in the caller's buffer");
    }
    CHECK_EQ(submit_io(l, S2_OP_RECV, sv[0], 5, 7, rbuf, sizeof rbuf, 0), 0,
             "once harvested, the direction takes a new op");
    close(sv[1]);
    CHECK(wait_for(l, 5, 1000, &e) && e.result == 0 && e.flags == DONE_R, "RECV at EOF completes with 0");
    CHECK_EQ(submit_io(l, S2_OP_SEND, sv[0], 5, 7, sbuf, 5, MSG_NOSIGNAL), 0, "SEND to a closed peer accepted");
    CHECK(wait_for(l, 5, 1000, &e) && e.result == -S2_EPIPE && e.flags == DONE_W,
          "and completes with -S2_EPIPE");
    close(sv[0]);
    /* after a short transfer the next one waits for readiness first
     * (IORING_RECVSEND_POLL_FIRST): data or room already there still ends it */
    make_pair(sv);
    if (write(sv[1], "ab", 2) != 2) bail("write");
    submit_io(l, S2_OP_RECV, sv[0], 7, 1, rbuf, sizeof rbuf, 0);
    CHECK(wait_for(l, 7, 1000, &e) && e.result == 2, "a short RECV");
    if (write(sv[1], "cd", 2) != 2) bail("write");
    submit_io(l, S2_OP_RECV, sv[0], 7, 1, rbuf, sizeof rbuf, 0);
    CHECK(wait_for(l, 7, 1000, &e) && e.result == 2 && memcmp(rbuf, "cd", 2) == 0,
          "the RECV after it gets data that was already there");
    submit_io(l, S2_OP_RECV, sv[0], 7, 1, rbuf, sizeof rbuf, 0);
    CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "and one on an empty socket waits");
    if (write(sv[1], "ef", 2) != 2) bail("write");
    CHECK(wait_for(l, 7, 1000, &e) && e.result == 2 && memcmp(rbuf, "ef", 2) == 0, "until data comes");
    {
        static char big[1 << 20];
        int i, total = 0;
        submit_io(l, S2_OP_SEND, sv[1], 8, 1, big, sizeof big, MSG_NOSIGNAL);
        CHECK(wait_for(l, 8, 1000, &e) && e.result > 0 && e.result < (int)sizeof big, "a short SEND (full socket)");
        submit_io(l, S2_OP_SEND, sv[1], 8, 1, big, 10, MSG_NOSIGNAL);
        CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "the SEND after it waits for room");
        for (i = 0; i < 1000 && total < (int)sizeof big; i++) {
            ssize_t r = recv(sv[0], big, sizeof big, MSG_DONTWAIT);
            if (r > 0) total += (int)r;
            if (s2_wait(l, &e, 1, 0) == 1) break;
        }
        CHECK(e.id == 8 && e.result == 10, "and ends when the reader makes room");
    }
    close(sv[0]); close(sv[1]);
    s2_close(l);
}

static void test_accept_connect(void) {
    s2_loop *l = open_loop();
    struct sockaddr_in lsa, peer, csa;
    uint32_t plen = 0;
    socklen_t clen = sizeof csa;
    int lfd = tcp_listener(&lsa), c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), fl;
    s2_event ev[4];
    s2_op o;
    int i, n, acc = -1, conn = -99;
    memset(&peer, 0, sizeof peer);
    o = mkop(S2_OP_ACCEPT, lfd, 10, 2);
    o.addr = (uint64_t)(uintptr_t)&peer; o.addrlenp = (uint64_t)(uintptr_t)&plen; o.addrlen = sizeof peer;
    CHECK_EQ(submit_op(l, o), 0, "ACCEPT accepted");
    o = mkop(S2_OP_CONNECT, c, 11, 3);
    o.addr = (uint64_t)(uintptr_t)&lsa; o.addrlen = sizeof lsa;
    CHECK_EQ(submit_op(l, o), 0, "CONNECT accepted");
    n = drain(l, ev, 4);
    for (i = 0; i < n; i++) {
        if (ev[i].id == 10 && ev[i].flags == DONE_R) acc = ev[i].result;
        if (ev[i].id == 11 && ev[i].flags == DONE_W) conn = ev[i].result;
    }
    CHECK_EQ(conn, 0, "CONNECT completes with 0 (S2_DONE|S2_WRITE)");
    CHECK(acc >= 0, "ACCEPT completes with the new descriptor (S2_DONE|S2_READ)");
    getsockname(c, (struct sockaddr *)&csa, &clen);
    CHECK(plen == sizeof peer && peer.sin_port == csa.sin_port,
          "ACCEPT fills the peer address and its length");
    if (acc >= 0) {
        fl = fcntl(acc, F_GETFL);
        CHECK((fl & O_NONBLOCK) && (fcntl(acc, F_GETFD) & FD_CLOEXEC),
              "the accepted socket is non-blocking and close-on-exec");
        close(acc);
    }
    close(c);
    /* refused: connect to the port after the listener is gone */
    close(lfd);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    o = mkop(S2_OP_CONNECT, c, 12, 0);
    o.addr = (uint64_t)(uintptr_t)&lsa; o.addrlen = sizeof lsa;
    submit_op(l, o);
    CHECK(wait_for(l, 12, 1000, &ev[0]) && ev[0].result == -S2_ECONNREFUSED,
          "CONNECT to a closed port completes with -S2_ECONNREFUSED");
    close(c);
    s2_close(l);
}

static void test_datagrams(void) {
    s2_loop *l = open_loop();
    struct sockaddr_in a, b, from;
    int fa = udp_bound(&a), fb = udp_bound(&b);
    char rbuf[16];
    uint32_t flen = 0;
    s2_event e;
    s2_op o;
    memset(&from, 0, sizeof from);
    o = mkop(S2_OP_RECVFROM, fb, 20, 1);
    o.buf = (uint64_t)(uintptr_t)rbuf; o.len = sizeof rbuf;
    o.addr = (uint64_t)(uintptr_t)&from; o.addrlen = sizeof from; o.addrlenp = (uint64_t)(uintptr_t)&flen;
    CHECK_EQ(submit_op(l, o), 0, "RECVFROM accepted");
    o = mkop(S2_OP_SENDTO, fa, 21, 1);
    o.buf = (uint64_t)(uintptr_t)"datagram"; o.len = 8;
    o.addr = (uint64_t)(uintptr_t)&b; o.addrlen = sizeof b;
    CHECK_EQ(submit_op(l, o), 0, "SENDTO accepted");
    {
        s2_event ev[4];
        int i, n = drain(l, ev, 4), gs = 0, gr = 0;
        for (i = 0; i < n; i++) {
            gs += ev[i].id == 21 && ev[i].result == 8 && ev[i].flags == DONE_W;
            gr += ev[i].id == 20 && ev[i].result == 8 && ev[i].flags == DONE_R;
        }
        CHECK(gs == 1, "SENDTO completes with 8");
        CHECK(gr == 1, "RECVFROM completes with 8");
    }
    CHECK(memcmp(rbuf, "datagram", 8) == 0, "RECVFROM wrote the caller's buffer");
    CHECK(flen == sizeof from && from.sin_port == a.sin_port, "RECVFROM fills the sender and its length");
    /* without room for the address */
    o = mkop(S2_OP_RECVFROM, fb, 20, 2);
    o.buf = (uint64_t)(uintptr_t)rbuf; o.len = sizeof rbuf;
    submit_op(l, o);
    sendto(fa, "x", 1, 0, (struct sockaddr *)&b, sizeof b);
    CHECK(wait_for(l, 20, 1000, &e) && e.result == 1 && e.gen == 2, "RECVFROM without an address buffer");
    close(fa); close(fb);
    s2_close(l);
}

/* Many RECVFROM in flight at once: the msghdr pool grows past one chunk,
 * every record goes back, and each completion finds its own. */
#define NUDP 150
static void test_msg_pool(void) {
    static int fds[NUDP];
    static struct sockaddr_in sas[NUDP], froms[NUDP];
    static uint32_t flens[NUDP];
    static char bufs[NUDP][8];
    static s2_op ops[NUDP];
    s2_loop *l = open_loop();
    struct sockaddr_in s;
    int snd = udp_bound(&s), i, n, got = 0, bad = 0, round;
    s2_event ev[256];
    for (round = 0; round < 3; round++) {
        for (i = 0; i < NUDP; i++) {
            if (round == 0) fds[i] = udp_bound(&sas[i]);
            ops[i] = mkop(S2_OP_RECVFROM, fds[i], 100 + (uint32_t)i, (uint32_t)round);
            ops[i].buf = (uint64_t)(uintptr_t)bufs[i]; ops[i].len = 8;
            ops[i].addr = (uint64_t)(uintptr_t)&froms[i]; ops[i].addrlen = sizeof froms[i];
            ops[i].addrlenp = (uint64_t)(uintptr_t)&flens[i];
        }
        if (s2_submit(l, ops, NUDP) != NUDP) bad++;
        for (i = 0; i < NUDP; i++) {
            char msg[16];
            snprintf(msg, sizeof msg, "%d", i);
            sendto(snd, msg, strlen(msg) + 1, 0, (struct sockaddr *)&sas[i], sizeof sas[i]);
        }
        for (got = 0; got < NUDP && (n = s2_wait(l, ev, 256, 1000)) > 0;) {
            for (i = 0; i < n; i++) {
                uint32_t k = ev[i].id - 100;
                if (k >= NUDP || ev[i].gen != (uint32_t)round || ev[i].result <= 0 ||
                    atoi(bufs[k]) != (int)k || flens[k] != sizeof s || froms[k].sin_port != s.sin_port)
                    bad++;
                got++;
            }
        }
        if (got != NUDP) bad++;
    }
    CHECK(bad == 0, "150 RECVFROM in flight, 3 rounds: each completes into its own buffer and address");
    for (i = 0; i < NUDP; i++) close(fds[i]);
    close(snd);
    s2_close(l);
}

static void test_poll(void) {
    s2_loop *l = open_loop();
    int sv[2];
    s2_event e;
    s2_op o;
    make_pair(sv);
    o = mkop(S2_OP_POLL, sv[0], 30, 1);
    o.flags = S2_WRITE;
    submit_op(l, o);
    CHECK(wait_for(l, 30, 1000, &e) && e.result == 0 && (e.flags & DONE_W) == DONE_W,
          "POLL S2_WRITE on a writable socket completes at once");
    o.flags = S2_READ;
    CHECK_EQ(submit_op(l, o), 0, "POLL S2_READ accepted");
    CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "nothing to read: the POLL stays pending");
    if (write(sv[1], "p", 1) != 1) bail("write");
    CHECK(wait_for(l, 30, 1000, &e) && e.result == 0 && (e.flags & DONE_R) == DONE_R && !(e.flags & S2_HUP),
          "data completes the POLL with S2_DONE|S2_READ");
    submit_op(l, o);
    CHECK(wait_for(l, 30, 1000, &e) && (e.flags & DONE_R) == DONE_R, "POLL is one-shot: a new one sees the unread byte");
    close(sv[1]);
    submit_op(l, o);
    CHECK(wait_for(l, 30, 1000, &e) && (e.flags & S2_HUP), "a closed peer adds S2_HUP");
    close(sv[0]);
    s2_close(l);
}

static void test_cancel(void) {
    s2_loop *l = open_loop();
    int sv[2], i, n;
    char rbuf[8], big[65536];
    s2_event ev[8], e;
    make_pair(sv);
    memset(big, 0, sizeof big);
    memset(rbuf, 'u', sizeof rbuf);
    submit_io(l, S2_OP_RECV, sv[0], 40, 4, rbuf, sizeof rbuf, 0);
    CHECK_EQ(submit_cancel(l, 40, 3, S2_READ), 0, "CANCEL with another generation is accepted");
    CHECK_EQ(drain(l, ev, 8), 0, "and cancels nothing");
    CHECK_EQ(submit_cancel(l, 40, 4, S2_WRITE), 0, "CANCEL of the other direction is accepted");
    CHECK_EQ(drain(l, ev, 8), 0, "and cancels nothing");
    CHECK_EQ(submit_cancel(l, 40, 4, S2_READ), 0, "CANCEL of the pending RECV accepted");
    n = drain(l, ev, 8);
    CHECK(n == 1 && ev[0].id == 40 && ev[0].gen == 4 && ev[0].flags == DONE_R &&
          ev[0].result == -S2_ECANCELED,
          "exactly one event: the RECV's own, with -S2_ECANCELED (the cancel's is swallowed)");
    if (write(sv[1], "later", 5) != 5) bail("write");
    CHECK_EQ(drain(l, ev, 8), 0, "data after the cancel makes no event");
    CHECK(rbuf[0] == 'u', "and is not written into the cancelled op's buffer");
    CHECK_EQ(recv(sv[0], rbuf, sizeof rbuf, 0), 5, "the data is still in the socket");

    /* an op that already finished when the cancel comes keeps its result */
    if (write(sv[1], "race", 4) != 4) bail("write");
    submit_io(l, S2_OP_RECV, sv[0], 41, 1, rbuf, sizeof rbuf, 0);
    submit_cancel(l, 41, 1, S2_READ);
    n = drain(l, ev, 8);
    CHECK(n == 1 && ev[0].id == 41 && ev[0].result == 4 && memcmp(rbuf, "race", 4) == 0,
          "CANCEL after the completion: one event, with the data (timeout racing success)");

    /* both directions pending; cancel one, then the other */
    for (i = 0; send(sv[0], big, sizeof big, MSG_DONTWAIT) > 0 && i < 1000; i++) {}
    submit_io(l, S2_OP_SEND, sv[0], 42, 1, big, sizeof big, MSG_NOSIGNAL);
    submit_io(l, S2_OP_RECV, sv[0], 42, 1, rbuf, sizeof rbuf, 0);
    CHECK_EQ(drain(l, ev, 8), 0, "a SEND on a full socket and a RECV both pending");
    submit_cancel(l, 42, 1, S2_READ);
    n = drain(l, ev, 8);
    CHECK(n == 1 && ev[0].flags == DONE_R && ev[0].result == -S2_ECANCELED, "CANCEL S2_READ ends only the RECV");
    submit_cancel(l, 42, 1, S2_READ | S2_WRITE);
    n = drain(l, ev, 8);
    CHECK(n == 1 && ev[0].flags == DONE_W && (ev[0].result == -S2_ECANCELED || ev[0].result > 0),
          "CANCEL of both ends the SEND");
    close(sv[0]); close(sv[1]);
    /* cancel after close(): the ring holds the file of an op that has
     * started (at the s2_wait after its submit); cancel by id still works */
    make_pair(sv);
    submit_io(l, S2_OP_RECV, sv[0], 43, 2, rbuf, sizeof rbuf, 0);
    CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "a RECV on an empty socket stays pending");
    close(sv[0]);
    CHECK_EQ(s2_wait(l, &e, 1, 0), 0, "closing the descriptor does not end a pending RECV");
    submit_cancel(l, 43, 2, S2_READ);
    CHECK(wait_for(l, 43, 1000, &e) && e.gen == 2 && e.result == -S2_ECANCELED,
          "CANCEL after close() ends it");
    close(sv[1]);
    s2_close(l);
}

/* Submission is deferred to s2_wait (one io_uring_enter per turn), but a
 * CANCEL hands the kernel what is queued at once: Lua closes a socket right
 * after cancelling its ops, and a socket opened before the next wait may
 * get the same descriptor number. */
static void test_deferred(void) {
    s2_loop *l = open_loop();
    int sv[2], sv2[2], i, n, fd;
    char rbuf[8], rbuf2[8];
    s2_event ev[8];
    s2_op ops[2];
    make_pair(sv);
    memset(rbuf, 'u', sizeof rbuf);
    if (write(sv[1], "x", 1) != 1) bail("write");
    submit_io(l, S2_OP_RECV, sv[0], 50, 1, rbuf, sizeof rbuf, 0);
    CHECK(rbuf[0] == 'u', "s2_submit queues a RECV: it has not run yet, though data is there");
    n = drain(l, ev, 8);
    CHECK(n == 1 && ev[0].id == 50 && ev[0].result == 1 && rbuf[0] == 'x', "the next s2_wait runs it");
    /* a batch queued in one turn ends in one wait */
    for (i = 0; i < 2; i++) {
        ops[i] = mkop(S2_OP_SEND, sv[1], 51 + i, 1);
        ops[i].buf = (uint64_t)(uintptr_t)"ab"; ops[i].len = 2; ops[i].flags = MSG_NOSIGNAL;
    }
    CHECK_EQ(s2_submit(l, ops, 2), 2, "two SENDs queued");
    n = s2_wait(l, ev, 8, 1000);
    CHECK(n == 2 && ev[0].result == 2 && ev[1].result == 2, "one s2_wait submits both and harvests both");
    CHECK_EQ(recv(sv[0], rbuf, sizeof rbuf, 0), 4, "both went out");
    /* RECV queued, CANCEL, close, and the number reused at once */
    memset(rbuf, 'u', sizeof rbuf);
    memset(rbuf2, 'v', sizeof rbuf2);
    submit_io(l, S2_OP_RECV, sv[0], 53, 1, rbuf, sizeof rbuf, 0);
    fd = sv[0];
    submit_cancel(l, 53, 1, S2_READ);
    close(sv[0]);
    make_pair(sv2);
    if (sv2[0] != fd && sv2[1] != fd) {
        skip("a CANCEL enters the kernel: a descriptor reused after it is not read", "number not reused");
    } else {
        int peer = sv2[0] == fd ? sv2[1] : sv2[0];
        if (write(peer, "new", 3) != 3) bail("write");
        n = drain(l, ev, 8);
        CHECK(n == 1 && ev[0].id == 53 && (ev[0].result == -S2_ECANCELED || ev[0].result == -S2_EBADF) &&
              rbuf[0] == 'u',
              "a CANCEL enters the kernel: a descriptor reused after it is not read by the cancelled RECV");
        CHECK_EQ(recv(fd, rbuf2, sizeof rbuf2, MSG_DONTWAIT), 3, "the new socket keeps its data");
    }
    close(sv2[0]); close(sv2[1]); close(sv[1]);
    s2_close(l);
}

#define NPAIRS 300
static void test_batch(void) {
    static int fds[NPAIRS][2];
    static s2_op ops[NPAIRS];
    static char bufs[NPAIRS][4];
    int seen[NPAIRS] = {0}, i, n, total = 0, dup = 0, bad = 0, calls = 0;
    s2_event ev[64];
    s2_loop *l = open_loop();
    for (i = 0; i < NPAIRS; i++) {
        make_pair(fds[i]);
        ops[i] = mkop(S2_OP_RECV, fds[i][0], 1000 + (uint32_t)i, (uint32_t)i);
        ops[i].buf = (uint64_t)(uintptr_t)bufs[i]; ops[i].len = 4;
    }
    CHECK_EQ(s2_submit(l, ops, NPAIRS), NPAIRS, "300 RECV ops in one submit (more than the SQ ring holds)");
    for (i = 0; i < NPAIRS; i++)
        if (write(fds[i][1], "b", 1) != 1) bail("write");
    while (total < NPAIRS && (n = s2_wait(l, ev, 64, 1000)) > 0) {
        calls++;
        for (i = 0; i < n; i++) {
            uint32_t k = ev[i].id - 1000;
            if (k >= NPAIRS || ev[i].gen != k || ev[i].result != 1) { bad++; continue; }
            if (seen[k]++) dup++; else total++;
        }
    }
    CHECK_EQ(total, NPAIRS, "all 300 complete");
    CHECK(dup == 0 && bad == 0, "each once, with its own id, gen and result");
    CHECK(calls >= NPAIRS / 64, "harvested in batches of at most max events");
    diag("harvested in %d wait call(s)", calls);
    for (i = 0; i < NPAIRS; i++) { close(fds[i][0]); close(fds[i][1]); }
    s2_close(l);
}

/* A lookup's end is posted to the inbox from a worker thread: it must wake
 * a wait(-1) on the ring. */
static void test_lookup_wakes(void) {
    s2_loop *l = open_loop();
    s2_lookup *req = NULL;
    s2_event e;
    void *ai = NULL;
    CHECK_EQ(s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, 0, 50, 1, &req), 0,
             "lookup started");
    CHECK(s2_wait(l, &e, 1, -1) == 1 && e.id == 50 && e.flags == (S2_DONE | S2_LOOKUP) && e.result == 0,
          "its event ends a wait(-1) on the ring");
    CHECK_EQ(s2_lookup_take(req, &ai), 0, "lookup_take");
    if (ai) freeaddrinfo(ai);
    s2_close(l);
}

/* s2_close with ops still pending must neither crash nor leak descriptors
 * (ASan/valgrind check the memory). */
static void test_close_pending(void) {
    int before = count_fds(), sv[2];
    static char rbuf[8];
    static struct sockaddr_in from;
    static uint32_t flen;
    struct sockaddr_in a;
    int u = udp_bound(&a);
    s2_loop *l = open_loop();
    s2_op o;
    make_pair(sv);
    submit_io(l, S2_OP_RECV, sv[0], 60, 1, rbuf, sizeof rbuf, 0);
    o = mkop(S2_OP_RECVFROM, u, 61, 1);
    o.buf = (uint64_t)(uintptr_t)rbuf; o.len = sizeof rbuf;
    o.addr = (uint64_t)(uintptr_t)&from; o.addrlen = sizeof from; o.addrlenp = (uint64_t)(uintptr_t)&flen;
    submit_op(l, o);
    memset(rbuf, 'u', sizeof rbuf);
    s2_close(l);
    if (write(sv[1], "late", 4) != 4) bail("write");
    sendto(u, "late", 4, 0, (struct sockaddr *)&a, sizeof a);
    CHECK(rbuf[0] == 'u' && recv(sv[0], rbuf + 4, 4, MSG_DONTWAIT) == 4 &&
          recv(u, rbuf + 4, 4, MSG_DONTWAIT) == 4,
          "s2_close cancels pending ops: no buffer is written after it, the data stays queued");
    close(sv[0]); close(sv[1]); close(u);
    CHECK_EQ(count_fds(), before, "s2_close with pending RECV and RECVFROM: no descriptor left");
}

/* ---- main --------------------------------------------------------------- */

int main(void) {
    s2_loop *probe = NULL;
    int32_t rc;
    signal(SIGPIPE, SIG_IGN);
    watchdog(60);
    raise_nofile(2048);
    test_abi();
    test_refused(EPERM, -S2_EPERM, "io_uring refused with EPERM: s2_open fails with -S2_EPERM");
    test_refused(ENOSYS, -S2_ENOSYS, "io_uring missing (ENOSYS): s2_open fails with -S2_ENOSYS");
    rc = s2_open(-1, &probe);
    if (rc == -S2_EPERM || rc == -S2_ENOSYS) {
        skip("io_uring backend tests", rc == -S2_EPERM ? "the kernel refuses io_uring (EPERM)"
                                                        : "the kernel refuses io_uring (ENOSYS)");
    } else {
        if (rc != 0) bail("s2_open failed");
        s2_close(probe);
        test_open_close();
        test_wait_and_wakeup();
        test_refusals();
        test_recv_send();
        test_accept_connect();
        test_datagrams();
        test_msg_pool();
        test_poll();
        test_cancel();
        test_deferred();
        test_batch();
        test_lookup_wakes();
        test_close_pending();
    }
    return done_testing();
}
