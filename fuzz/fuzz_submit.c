/* fuzz/fuzz_submit.c -- libFuzzer target for the shim's op validation.
 *
 * Each input is a batch of raw s2_op structs (64 bytes each) handed to
 * s2_submit() on a fresh loop, then harvested with s2_wait(timeout 0).
 * Everything an op can point at is made harmless first:
 *   - fd: the low bits pick one of the descriptors this harness opened
 *     (socketpairs, a pipe, an eventfd, a udp socket, /dev/null, the loop's
 *     own epoll fd) or an invalid value (-1, > INT32_MAX, very negative);
 *   - buf/addr/addrlenp: NULL or a pointer into the harness's own buffers,
 *     with len/addrlen clamped to what is there.
 * Checked: s2_submit never crashes, returns the count of ops whose result
 * is 0, every result is 0 or a known -S2_E* code; every harvested event
 * carries an (id, gen) that a WATCH in this input registered, and only
 * known flag bits. The first input byte also picks a second loop sharing
 * the first one's epoll fd, and bad calls (n < 0, NULL ops, NULL loop). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include "socket2.h"

#define MAX_OPS 64
#define NFD 10

static int fds[NFD];
static int nfds;
static uint8_t bufmem[65536];
static uint8_t addrmem[256];
static uint32_t addrlen_out;

static void die(const char *what) { fprintf(stderr, "fuzz_submit: %s\n", what); abort(); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    int sv[2], p[2];
    (void)argc; (void)argv;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0) die("socketpair");
    fds[nfds++] = sv[0]; fds[nfds++] = sv[1];
    if (write(sv[1], "ready", 5) != 5) die("write"); /* sv[0] is readable */
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0) die("socketpair");
    fds[nfds++] = sv[0]; fds[nfds++] = sv[1];
    if (pipe2(p, O_NONBLOCK) < 0) die("pipe");
    fds[nfds++] = p[0]; fds[nfds++] = p[1];
    if ((fds[nfds++] = eventfd(1, EFD_NONBLOCK)) < 0) die("eventfd");
    if ((fds[nfds++] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) < 0) die("socket");
    if ((fds[nfds++] = open("/dev/null", O_RDWR)) < 0) die("open");
    /* the last slot is filled per input with the loop's own epoll fd */
    nfds++;
    return 0;
}

static int64_t pick_fd(int64_t raw) {
    uint64_t k = (uint64_t)raw % (NFD + 4);
    if (k < NFD) return fds[k];
    switch (k - NFD) {
    case 0: return -1;
    case 1: return (int64_t)INT32_MAX + 1;   /* would truncate to INT32_MIN */
    case 2: return (int64_t)1 << 40 | 3;     /* would truncate to 3 */
    default: return INT64_MIN;
    }
}

static void sanitize(s2_op *op) {
    op->fd = pick_fd(op->fd);
    if (op->buf & 1) {
        uint32_t off = (uint32_t)(op->buf >> 1) % sizeof bufmem;
        op->buf = (uint64_t)(uintptr_t)(bufmem + off);
        if (op->len > sizeof bufmem - off) op->len = (uint32_t)(sizeof bufmem - off);
    } else {
        op->buf = 0;
    }
    if (op->addr & 1) {
        op->addr = (uint64_t)(uintptr_t)addrmem;
        if (op->addrlen > sizeof addrmem) op->addrlen = sizeof addrmem;
    } else {
        op->addr = 0;
    }
    op->addrlenp = (op->addrlenp & 1) ? (uint64_t)(uintptr_t)&addrlen_out : 0;
}

static uint8_t watched[(S2_MAX_ID + 1) / 8 + 1];
static uint32_t watched_ids[MAX_OPS * 2];
static int nwatched;

static void check_batch(s2_op *ops, int32_t n, int32_t rc) {
    int32_t i, ok = 0;
    for (i = 0; i < n; i++) {
        int32_t r = ops[i].result;
        if (r > 0 || r <= -S2_E_COUNT) die("op result is not 0 or -S2_E*");
        if (!s2_errname(r) || !s2_strerror(r)) die("no name for a result");
        if (r == 0) {
            ok++;
            if (ops[i].op == S2_OP_WATCH) {
                uint32_t id = ops[i].id;
                watched[id >> 3] |= (uint8_t)(1u << (id & 7));
                if (nwatched < MAX_OPS * 2) watched_ids[nwatched++] = id;
            }
        }
    }
    if (rc != ok) die("s2_submit's count differs from the ops it accepted");
}

static void harvest(s2_loop *loop) {
    s2_event ev[64];
    int32_t i, m = s2_wait(loop, ev, 64, 0);
    if (m < 0 && m <= -S2_E_COUNT) die("s2_wait returned an unknown code");
    for (i = 0; i < m; i++) {
        uint32_t id = ev[i].id;
        if (id > S2_MAX_ID || !(watched[id >> 3] & (1u << (id & 7)))) die("event for an id never watched");
        if (ev[i].flags & ~(uint32_t)(S2_READ | S2_WRITE | S2_HUP | S2_ERROR | S2_DONE | S2_LOOKUP))
            die("event with unknown flags");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    s2_op ops[MAX_OPS];
    s2_loop *loop = NULL, *shared = NULL;
    int32_t n, rc, i;
    uint8_t mode;
    if (size < 1) return 0;
    mode = data[0];
    data++; size--;
    n = (int32_t)(size / sizeof(s2_op));
    if (n > MAX_OPS) n = MAX_OPS;
    memcpy(ops, data, (size_t)n * sizeof(s2_op));
    if (s2_open(-1, &loop) != 0 || !loop) die("s2_open");
    fds[NFD - 1] = (int)s2_handle(loop);
    for (i = 0; i < n; i++) sanitize(&ops[i]);
    nwatched = 0;

    /* bad calls first: they must be refused without touching anything */
    if (s2_submit(NULL, ops, n) != -S2_EINVAL) die("NULL loop accepted");
    if (s2_submit(loop, ops, -1 - (mode & 7)) != -S2_EINVAL) die("negative n accepted");
    if (n > 0 && s2_submit(loop, NULL, n) != -S2_EINVAL) die("NULL ops accepted");
    if (s2_submit(loop, ops, 0) != 0) die("empty batch refused");

    if (mode & 0x80) {
        /* a second loop sharing the first one's epoll fd gets half the ops */
        if (s2_open(s2_handle(loop), &shared) != 0 || !shared) die("s2_open(shared)");
        rc = s2_submit(shared, ops, n / 2);
        check_batch(ops, n / 2, rc);
        rc = s2_submit(loop, ops + n / 2, n - n / 2);
        check_batch(ops + n / 2, n - n / 2, rc);
    } else if (mode & 0x40) {
        /* one op at a time, harvesting in between */
        for (i = 0; i < n; i++) {
            rc = s2_submit(loop, &ops[i], 1);
            check_batch(&ops[i], 1, rc);
            harvest(loop);
        }
    } else {
        rc = s2_submit(loop, ops, n);
        check_batch(ops, n, rc);
    }
    if (mode & 0x20) s2_wakeup(loop);
    harvest(loop);
    if (shared) { harvest(shared); s2_close(shared); }
    /* leave no registration behind on the harness's descriptors */
    for (i = 0; i < NFD - 1; i++) {
        s2_op u;
        memset(&u, 0, sizeof u);
        u.op = S2_OP_UNWATCH; u.fd = fds[i];
        s2_submit(loop, &u, 1);
    }
    s2_close(loop);
    for (i = 0; i < nwatched; i++) watched[watched_ids[i] >> 3] = 0;
    return 0;
}
