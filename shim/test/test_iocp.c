/* test_iocp.c -- TAP tests for the socket2 shim's IOCP backend, run under
 * Wine (make test / make test-win):
 *   make win && sh tools/wine/run.sh build/win/test_iocp.exe
 * Loopback only, port 0; nothing sleeps to synchronise: every wait is for an
 * event, with a long timeout that only guards against a hang. */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "socket2.h"
#include "tap.h"

#define GUARD_MS 10000  /* a wait that takes this long means a hang */

static SOCKET sock(int type) {
    SOCKET s = WSASocketW(AF_INET, type, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (s == INVALID_SOCKET) bail("socket");
    return s;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int port_of(SOCKET s) {
    struct sockaddr_in a;
    int len = sizeof a;
    if (getsockname(s, (struct sockaddr *)&a, &len) != 0) bail("getsockname");
    return ntohs(a.sin_port);
}

static SOCKET listener(void) {
    SOCKET l = sock(SOCK_STREAM);
    struct sockaddr_in a = loopback(0);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 16)) bail("listen");
    return l;
}

/* an I/O op on slot id, gen id * 10 */
static s2_op iop(uint32_t code, SOCKET fd, uint32_t id, void *buf, uint32_t len) {
    s2_op op = mkop(code, (int64_t)fd, id, id * 10);
    op.buf = (uint64_t)(uintptr_t)buf; op.len = len;
    return op;
}

/* Waits for the event of slot id; events of other ids are kept for later
 * calls (until close_loop). */
static s2_event stash[64];
static int nstash;
static int wait_kept(s2_loop *l, uint32_t id, s2_event *out) {
    DWORD t0 = GetTickCount();
    int i;
    for (i = 0; i < nstash; i++)
        if (stash[i].id == id) { *out = stash[i]; stash[i] = stash[--nstash]; return 1; }
    while (GetTickCount() - t0 < GUARD_MS) {
        s2_event ev;
        int32_t n = s2_wait(l, &ev, 1, 500);
        if (n < 0) return 0;
        if (n == 1 && ev.id == id) { *out = ev; return 1; }
        if (n == 1 && nstash < 64) stash[nstash++] = ev;
    }
    return 0;
}

/* A connected pair through ACCEPT and CONNECT ops: *c client, *s server. */
static void pair(s2_loop *l, SOCKET *c, SOCKET *s) {
    SOCKET lis = listener();
    struct sockaddr_in a = loopback(port_of(lis)), peer;
    uint32_t peerlen = 0;
    s2_op acc = iop(S2_OP_ACCEPT, lis, 1, NULL, 0), con;
    s2_event ev;
    int got = 0;
    acc.addr = (uint64_t)(uintptr_t)&peer; acc.addrlen = sizeof peer;
    acc.addrlenp = (uint64_t)(uintptr_t)&peerlen;
    *c = sock(SOCK_STREAM);
    con = iop(S2_OP_CONNECT, *c, 2, NULL, 0);
    con.addr = (uint64_t)(uintptr_t)&a; con.addrlen = sizeof a;
    if (submit_op(l, acc) || submit_op(l, con)) bail("accept/connect submit");
    *s = INVALID_SOCKET;
    while (got < 2) {
        if (s2_wait(l, &ev, 1, GUARD_MS) != 1) bail("accept/connect wait");
        if (ev.id == 1) *s = (SOCKET)(uint32_t)ev.result;
        if (ev.result < 0) bail(s2_errname(ev.result));
        got++;
    }
    if (peerlen != sizeof peer || peer.sin_port != htons((u_short)port_of(*c))) bail("accept address");
    closesocket(lis);
}

static void close_loop(s2_loop *l) { nstash = 0; s2_close(l); }

static void test_abi(void) {
    CHECK(strcmp(s2_backend(), "iocp") == 0, "backend is iocp");
    CHECK(s2_caps() & S2_CAP_COMPLETION, "caps: completion");
    CHECK(!(s2_caps() & S2_CAP_READINESS), "caps: no readiness");
    CHECK_EQ(s2_from_oserror(WSAECONNREFUSED), -S2_ECONNREFUSED, "WSAECONNREFUSED maps");
    CHECK_EQ(s2_from_oserror(WSAEWOULDBLOCK), -S2_EAGAIN, "WSAEWOULDBLOCK is EAGAIN");
    CHECK_EQ(s2_from_oserror(WSAEADDRINUSE), -S2_EADDRINUSE, "WSAEADDRINUSE maps");
    CHECK_EQ(s2_from_oserror(ERROR_OPERATION_ABORTED), -S2_ECANCELED, "ERROR_OPERATION_ABORTED is ECANCELED");
    CHECK_EQ(s2_from_oserror(0), -S2_EUNKNOWN, "0 is no error to map");
    /* the layout the Lua cdef assumes (spec/unit/shim_spec.lua checks it on
     * Linux with cc; under Wine there is no compiler, so it is checked here) */
    CHECK(sizeof(s2_event) == 16 && offsetof(s2_event, gen) == 4 && offsetof(s2_event, result) == 8
          && offsetof(s2_event, flags) == 12, "s2_event layout under mingw");
    CHECK(sizeof(s2_op) == 64 && offsetof(s2_op, fd) == 16 && offsetof(s2_op, buf) == 24
          && offsetof(s2_op, addr) == 32 && offsetof(s2_op, addrlenp) == 40 && offsetof(s2_op, len) == 48
          && offsetof(s2_op, addrlen) == 52 && offsetof(s2_op, result) == 56 && offsetof(s2_op, aux) == 60,
          "s2_op layout under mingw");
}

static void test_open_wait_wake(void) {
    s2_loop *l;
    s2_event ev;
    CHECK_EQ(s2_open(-1, &l), 0, "open");
    CHECK(s2_handle(l) > 0, "handle is the port");
    CHECK_EQ(s2_wait(l, &ev, 1, 0), 0, "wait(0) with nothing: 0");
    CHECK_EQ(s2_wait(l, &ev, 1, 20), 0, "wait(20 ms) times out: 0");
    CHECK_EQ(s2_wakeup(l), 0, "wakeup");
    CHECK_EQ(s2_wait(l, &ev, 1, -1), 0, "wakeup makes wait(forever) return 0");
    {
        s2_op op = iop(S2_OP_WATCH, 5, 1, NULL, 0);
        CHECK_EQ(submit_op(l, op), -S2_EOPNOTSUPP, "WATCH is not supported");
    }
    close_loop(l);
}

static void test_stream(void) {
    s2_loop *l;
    SOCKET c, s;
    char out[] = "hello world", in[64];
    s2_event ev;
    s2_open(-1, &l);
    pair(l, &c, &s);
    CHECK(s != INVALID_SOCKET, "ACCEPT gives the new socket; CONNECT completes with 0");
    CHECK_EQ(submit_op(l, iop(S2_OP_SEND, c, 3, out, 11)), 0, "SEND submitted");
    CHECK(wait_kept(l, 3, &ev) && ev.result == 11 && ev.flags == (S2_DONE | S2_WRITE)
          && ev.gen == 30, "SEND completes: 11 bytes, S2_DONE|S2_WRITE, gen kept");
    CHECK_EQ(submit_op(l, iop(S2_OP_RECV, s, 4, in, sizeof in)), 0, "RECV submitted");
    CHECK(wait_kept(l, 4, &ev) && ev.result == 11 && ev.flags == (S2_DONE | S2_READ)
          && memcmp(in, out, 11) == 0, "RECV completes with the data");

    /* POLL(READ): a zero-byte receive that ends when data is there */
    CHECK_EQ(submit_op(l, iop(S2_OP_POLL, s, 5, NULL, 0)), -S2_EINVAL, "POLL needs one direction");
    {
        s2_op p = iop(S2_OP_POLL, s, 5, NULL, 0);
        p.flags = S2_READ;
        CHECK_EQ(submit_op(l, p), 0, "POLL(READ) submitted");
    }
    CHECK_EQ(s2_wait(l, &ev, 1, 0), 0, "POLL(READ) waits while there is no data");
    submit_op(l, iop(S2_OP_SEND, c, 3, out, 5));
    CHECK(wait_kept(l, 5, &ev) && ev.result == 0 && ev.flags == (S2_DONE | S2_READ),
          "POLL(READ) completes when data arrives, data not consumed");
    memset(in, 0, sizeof in);
    CHECK(recv(s, in, sizeof in, 0) == 5 && memcmp(in, "hello", 5) == 0, "the data is still there");
    {
        s2_op p = iop(S2_OP_POLL, c, 6, NULL, 0);
        p.flags = S2_WRITE;
        CHECK(submit_op(l, p) == 0 && wait_kept(l, 6, &ev) && ev.flags == (S2_DONE | S2_WRITE)
              && ev.result == 0, "POLL(WRITE) completes at once");
    }

    /* CANCEL: a pending receive ends with ECANCELED */
    submit_op(l, iop(S2_OP_RECV, s, 7, in, sizeof in));
    CHECK_EQ(s2_wait(l, &ev, 1, 0), 0, "RECV pending");
    {
        s2_op x = iop(S2_OP_CANCEL, s, 7, NULL, 0);
        x.flags = S2_WRITE;
        CHECK_EQ(submit_op(l, x), 0, "CANCEL of the other direction");
        CHECK_EQ(s2_wait(l, &ev, 1, 0), 0, "does not touch the receive");
        x.flags = S2_READ | S2_WRITE;
        CHECK_EQ(submit_op(l, x), 0, "CANCEL submitted");
    }
    CHECK(wait_kept(l, 7, &ev) && ev.result == -S2_ECANCELED, "the cancelled RECV completes with ECANCELED");

    /* a large send completes whole once the peer reads */
    {
        enum { BIG = 1 << 20 };
        char *big = malloc(BIG), *got = malloc(BIG);
        int i, off = 0, sent = 0;
        for (i = 0; i < BIG; i++) big[i] = (char)(i * 7);
        submit_op(l, iop(S2_OP_SEND, c, 8, big, BIG));
        while (off < BIG) {
            submit_op(l, iop(S2_OP_RECV, s, 9, got + off, BIG - off));
            for (;;) {
                if (s2_wait(l, &ev, 1, GUARD_MS) != 1) bail("big wait");
                if (ev.id == 8) sent = ev.result;
                if (ev.id == 9) break;
            }
            if (ev.result <= 0) break;
            off += ev.result;
        }
        if (!sent) wait_kept(l, 8, &ev), sent = ev.result;
        CHECK(sent == BIG && off == BIG && memcmp(big, got, BIG) == 0, "1 MiB SEND completes whole, data intact");
        free(big); free(got);
    }

    /* EOF: the peer's close completes a pending receive with 0 */
    submit_op(l, iop(S2_OP_RECV, s, 10, in, sizeof in));
    shutdown(c, SD_SEND);
    CHECK(wait_kept(l, 10, &ev) && ev.result == 0, "EOF: RECV completes with 0");
    closesocket(c);
    closesocket(s);
    close_loop(l);
}

static void test_partial_send(void) {
    s2_loop *l;
    SOCKET c, s;
    s2_event ev;
    s2_open(-1, &l);
    pair(l, &c, &s);
    /* a send to a peer that does not read moves what fits, and completes */
    {
        enum { HUGE = 8 << 20 };
        char *huge = calloc(1, HUGE);
        int small = 4096;
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, (char *)&small, sizeof small);
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, (char *)&small, sizeof small);
        submit_op(l, iop(S2_OP_SEND, c, 11, huge, HUGE));
        CHECK(wait_kept(l, 11, &ev) && ev.result > 0 && ev.result < HUGE,
              "SEND of 8 MiB to a peer that does not read completes with what fit");
        free(huge);
    }

    closesocket(c); closesocket(s);
    close_loop(l);
}

static void test_refused(void) {
    s2_loop *l;
    SOCKET t = listener(), c = sock(SOCK_STREAM);
    struct sockaddr_in a = loopback(port_of(t));
    s2_op con = iop(S2_OP_CONNECT, c, 1, NULL, 0);
    s2_event ev;
    closesocket(t);  /* nobody listens there now */
    s2_open(-1, &l);
    con.addr = (uint64_t)(uintptr_t)&a; con.addrlen = sizeof a;
    CHECK_EQ(submit_op(l, con), 0, "CONNECT to a closed port submitted");
    CHECK(wait_kept(l, 1, &ev), "CONNECT completes");
    CHECK_EQ(ev.result, -S2_ECONNREFUSED, "with ECONNREFUSED");
    con.addrlen = 0;
    CHECK_EQ(submit_op(l, con), -S2_EINVAL, "CONNECT without an address: EINVAL");
    closesocket(c);
    close_loop(l);
}

static void test_accept_cancel(void) {
    s2_loop *l;
    SOCKET lis = listener();
    s2_op acc = iop(S2_OP_ACCEPT, lis, 1, NULL, 0), x = iop(S2_OP_CANCEL, lis, 1, NULL, 0);
    s2_event ev;
    s2_open(-1, &l);
    CHECK_EQ(submit_op(l, acc), 0, "ACCEPT submitted without address room");
    x.flags = S2_READ;
    submit_op(l, x);
    CHECK(wait_kept(l, 1, &ev) && ev.result == -S2_ECANCELED, "cancelled ACCEPT completes with ECANCELED");
    {
        SOCKET c = sock(SOCK_STREAM);
        struct sockaddr_in a = loopback(port_of(lis));
        s2_op con = iop(S2_OP_CONNECT, c, 2, NULL, 0);
        con.addr = (uint64_t)(uintptr_t)&a; con.addrlen = sizeof a;
        CHECK_EQ(submit_op(l, acc), 0, "a new ACCEPT after the cancelled one");
        CHECK_EQ(submit_op(l, con), 0, "and a CONNECT");
        CHECK(wait_kept(l, 2, &ev) && ev.result == 0, "the connect completes");
        CHECK(wait_kept(l, 1, &ev) && ev.result > 0, "the new ACCEPT completes with a socket");
        if (ev.result > 0) closesocket((SOCKET)(uint32_t)ev.result);
        closesocket(c);
    }
    acc.flags = S2_READ; acc.op = S2_OP_POLL;
    CHECK_EQ(submit_op(l, acc), -S2_EOPNOTSUPP, "POLL(READ) on a listener is refused");
    closesocket(lis);
    close_loop(l);
}

static void test_dgram(void) {
    s2_loop *l;
    SOCKET a = sock(SOCK_DGRAM), b = sock(SOCK_DGRAM);
    struct sockaddr_in la = loopback(0), from;
    uint32_t fromlen = 0;
    char in[4], out[] = "datagram";
    s2_op rf, st, p;
    s2_event ev;
    s2_open(-1, &l);
    bind(a, (struct sockaddr *)&la, sizeof la);
    bind(b, (struct sockaddr *)&la, sizeof la);
    la = loopback(port_of(a));
    rf = iop(S2_OP_RECVFROM, a, 1, in, sizeof in);
    rf.addr = (uint64_t)(uintptr_t)&from; rf.addrlen = sizeof from;
    rf.addrlenp = (uint64_t)(uintptr_t)&fromlen;
    p = iop(S2_OP_POLL, a, 3, NULL, 0);
    p.flags = S2_READ;
    CHECK_EQ(submit_op(l, p), 0, "POLL(READ) on udp submitted");
    st = iop(S2_OP_SENDTO, b, 2, out, 8);
    st.addr = (uint64_t)(uintptr_t)&la; st.addrlen = sizeof la;
    CHECK_EQ(submit_op(l, st), 0, "SENDTO submitted");
    CHECK(wait_kept(l, 2, &ev) && ev.result == 8, "SENDTO completes with 8");
    CHECK(wait_kept(l, 3, &ev) && ev.result == 0, "POLL(READ) on udp completes (MSG_PEEK keeps the datagram)");
    CHECK_EQ(submit_op(l, rf), 0, "RECVFROM submitted");
    CHECK(wait_kept(l, 1, &ev), "RECVFROM completes");
    CHECK_EQ(ev.result, 4, "a datagram longer than the buffer gives the buffer's length, no error");
    CHECK(fromlen == sizeof from && from.sin_port == htons((u_short)port_of(b)), "RECVFROM fills the sender address");
    {
        s2_op con = iop(S2_OP_CONNECT, b, 4, NULL, 0);
        con.addr = (uint64_t)(uintptr_t)&la; con.addrlen = sizeof la;
        CHECK(submit_op(l, con) == 0 && wait_kept(l, 4, &ev) && ev.result == 0, "udp CONNECT completes at once");
        CHECK(submit_op(l, iop(S2_OP_SEND, b, 5, out, 3)) == 0 && wait_kept(l, 5, &ev) && ev.result == 3,
              "SEND on the connected udp socket");
        CHECK(submit_op(l, iop(S2_OP_RECV, a, 6, in, sizeof in)) == 0 && wait_kept(l, 6, &ev) && ev.result == 3,
              "RECV gets it");
    }
    closesocket(a); closesocket(b);
    close_loop(l);
}

static void test_batch(void) {
    enum { N = 16 };
    s2_loop *l;
    SOCKET c, s;
    s2_op ops[N];
    s2_event ev[N];
    char buf[N][4];
    int i, n = 0, rounds = 0;
    s2_open(-1, &l);
    pair(l, &c, &s);
    for (i = 0; i < N; i++) ops[i] = iop(S2_OP_SEND, c, 100 + i, "abcd", 4);
    CHECK_EQ(s2_submit(l, ops, N), N, "16 SENDs in one submit");
    while (n < N && rounds++ < 100) {
        int32_t m = s2_wait(l, ev, N, GUARD_MS);
        if (m <= 0) break;
        n += m;
    }
    CHECK_EQ(n, N, "16 completions harvested in batches");
    (void)buf;
    closesocket(c); closesocket(s);
    close_loop(l);
}

/* Two loops share one port: a completion of loop A that loop B dequeues
 * reaches A (B's s2_wait keeps nothing of it). */
static volatile LONG stop_helper;
static DWORD WINAPI helper(LPVOID p) {
    s2_loop *b;
    s2_event ev[4];
    if (s2_open(s2_handle((s2_loop *)p), &b) != 0) return 1;
    while (!stop_helper) if (s2_wait(b, ev, 4, 50) > 0) return 2;  /* never its own */
    s2_close(b);
    return 0;
}

static void test_shared(void) {
    s2_loop *a, *b;
    SOCKET c, s;
    char in[8];
    s2_event ev;
    HANDLE th;
    DWORD code = 99;
    s2_open(-1, &a);
    pair(a, &c, &s);
    CHECK_EQ(s2_open(s2_handle(a), &b), 0, "a second loop shares the port");
    CHECK_EQ(s2_handle(b), s2_handle(a), "same handle");
    submit_op(a, iop(S2_OP_RECV, s, 1, in, sizeof in));
    send(c, "xyz", 3, 0);
    CHECK_EQ(s2_wait(b, &ev, 1, GUARD_MS), 0, "loop B dequeues A's completion and keeps nothing");
    CHECK(s2_wait(a, &ev, 1, 0) == 1 && ev.id == 1 && ev.result == 3, "loop A gets it, forwarded");
    s2_close(b);

    /* with both waiting: whichever dequeues it, A wakes with its event */
    stop_helper = 0;
    th = CreateThread(NULL, 0, helper, a, 0, NULL);
    submit_op(a, iop(S2_OP_RECV, s, 2, in, sizeof in));
    send(c, "abc", 3, 0);
    CHECK(wait_kept(a, 2, &ev) && ev.result == 3, "A gets its completion while B waits too");
    stop_helper = 1;
    WaitForSingleObject(th, GUARD_MS);
    GetExitCodeThread(th, &code);
    CloseHandle(th);
    CHECK_EQ(code, 0, "B never saw an event of A's");
    closesocket(c); closesocket(s);
    close_loop(a);
}

static void test_close_pending(void) {
    s2_loop *l;
    SOCKET c, s;
    char in[8];
    s2_open(-1, &l);
    pair(l, &c, &s);
    submit_op(l, iop(S2_OP_RECV, s, 1, in, sizeof in));
    submit_op(l, iop(S2_OP_RECV, c, 2, in, sizeof in));
    close_loop(l);  /* cancels and drains; the buffers are not written after this */
    CHECK(1, "s2_close with two receives in flight returns");
    closesocket(c); closesocket(s);
}

static void test_lookup(void) {
    s2_loop *l;
    s2_lookup *req;
    s2_event ev;
    void *ai = NULL;
    s2_open(-1, &l);
    CHECK_EQ(s2_lookup_start(l, "127.0.0.1", "80", AF_INET, SOCK_STREAM, 0, AI_NUMERICHOST,
                             7, 70, &req), 0, "lookup started");
    CHECK(s2_wait(l, &ev, 1, GUARD_MS) == 1 && ev.id == 7 && ev.gen == 70
          && ev.flags == (S2_DONE | S2_LOOKUP) && ev.result == 0, "lookup event arrives");
    CHECK(s2_lookup_take(req, &ai) == 0 && ai != NULL, "lookup result taken");
    if (ai) freeaddrinfo(ai);
    close_loop(l);
}

static void test_nameinfo(void) {
    s2_loop *l;
    s2_lookup *req;
    s2_event ev;
    struct sockaddr_in a = loopback(8080);
    char host[64], serv[16];
    int i, rc;
    s2_open(-1, &l);
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST | NI_NUMERICSERV, 8, 80, &req), 0,
             "nameinfo started");
    CHECK(wait_for(l, 8, GUARD_MS, &ev) && ev.gen == 80 && ev.flags == (S2_DONE | S2_LOOKUP) && ev.result == 0,
          "nameinfo event arrives");
    CHECK(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv) == 0 && strcmp(host, "127.0.0.1") == 0
          && strcmp(serv, "8080") == 0, "nameinfo_take: 127.0.0.1, 8080");

    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, 0, 9, 90, &req), 0, "nameinfo with flags 0 started");
    if (CHECK(wait_for(l, 9, GUARD_MS, &ev) && ev.result == 0, "it completes with 0")) {
        CHECK(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv) == 0 && host[0] != 0,
              "127.0.0.1 has a name");
        diag("127.0.0.1:8080 is %s:%s", host, serv);
    } else {
        s2_lookup_cancel(req);
    }

    a.sin_family = 12345;  /* no such family */
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST, 10, 100, &req), 0, "nameinfo of a bad family started");
    CHECK(wait_for(l, 10, GUARD_MS, &ev) && ev.result == -S2_EAI_FAMILY, "it ends with -S2_EAI_FAMILY");
    CHECK_EQ(s2_nameinfo_take(req, host, sizeof host, serv, sizeof serv), -S2_EAI_FAMILY,
             "nameinfo_take returns -S2_EAI_FAMILY");
    rc = getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    CHECK_EQ(s2_from_gaierror(rc, 0), -S2_EAI_FAMILY, "from_gaierror(getnameinfo of a bad family)");
    CHECK_EQ(s2_from_gaierror(0, 0), 0, "from_gaierror(0) is 0");
    CHECK_EQ(s2_from_gaierror(WSAHOST_NOT_FOUND, 0), -S2_EAI_NONAME, "from_gaierror(WSAHOST_NOT_FOUND)");

    /* cancel right after the start */
    a = loopback(80);
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST, 11, 1, &req), 0, "nameinfo started");
    s2_lookup_cancel(req);
    CHECK(!wait_for(l, 11, 200, &ev), "lookup_cancel right after nameinfo_start: no event");
    /* cancel after the end: once the port is handed out, the worker's post
     * wakes the loop's thread with an APC (run here, so the event stays in
     * the loop's inbox); then the cancel takes the event back */
    s2_handle(l);
    CHECK_EQ(s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST, 12, 1, &req), 0, "nameinfo started");
    CHECK(SleepEx(GUARD_MS, TRUE) == WAIT_IO_COMPLETION, "its end wakes the loop's thread");
    s2_lookup_cancel(req);
    CHECK_EQ(s2_wait(l, &ev, 1, 0), 0, "lookup_cancel of a finished reverse lookup: its event is gone");
    close_loop(l);

    s2_open(-1, &l);
    for (i = 0; i < 10; i++) s2_nameinfo_start(l, &a, sizeof a, NI_NUMERICHOST, 20 + i, 1, &req);
    close_loop(l);
    CHECK(1, "s2_close with 10 pending reverse lookups returns");
}

int main(void) {
    WSADATA wd;
    watchdog(120);  /* a hang is a failure */
    if (WSAStartup(MAKEWORD(2, 2), &wd)) bail("WSAStartup");
    test_abi();
    test_open_wait_wake();
    test_stream();
    test_partial_send();
    test_refused();
    test_accept_cancel();
    test_dgram();
    test_batch();
    test_shared();
    test_close_pending();
    test_lookup();
    test_nameinfo();
    return done_testing();
}
