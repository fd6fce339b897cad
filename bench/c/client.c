/* bench/c/client.c: the load clients that Debian has no package for.
 *
 *   client bulk  PORT BYTES SERVER_PID
 *     one connection to 127.0.0.1:PORT: sends "BULK <BYTES> <BYTES>\n" and
 *     BYTES bytes (the server is the sink), then receives BYTES bytes (the
 *     server is the source). The first byte back marks the end of the sink
 *     phase. Prints per phase the seconds and the server's CPU seconds
 *     (utime+stime from /proc/SERVER_PID/stat).
 *
 *   client churn PORT TOTAL CONCURRENCY NSRC
 *     TOTAL connections, CONCURRENCY at a time, each: connect from
 *     127.0.0.(2..NSRC+1), send one byte, receive one byte, close. The
 *     client closes first, so TIME_WAIT is ours, spread over the source
 *     addresses. Prints the seconds taken.
 *
 *   client cpu PID
 *     prints the CPU seconds (user + system) process PID has used so far.
 *
 * Both stop by themselves (an alarm ends a run that hangs). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CHUNK (256 * 1024)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* utime + stime of pid, in seconds: the process CPU clock, which is the
 * sum /proc/PID/stat splits into utime and stime, at ns resolution instead
 * of 10 ms ticks; /proc/PID/stat if the clock cannot be read. */
static double proc_cpu(int pid) {
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    clockid_t clk;
    struct timespec ts;
    FILE *f;
    if (clock_getcpuclockid(pid, &clk) == 0 && clock_gettime(clk, &ts) == 0)
        return ts.tv_sec + ts.tv_nsec * 1e-9;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r"))) die(path);
    if (!fgets(buf, sizeof buf, f)) die(path);
    fclose(f);
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        die("parse stat");
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static struct sockaddr_in server_addr(int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

static int bulk(int port, uint64_t bytes, int pid) {
    static uint8_t buf[CHUNK];
    struct sockaddr_in sa = server_addr(port);
    char hdr[64];
    uint64_t left, got = 0;
    double t0, t1, t2, c0, c1, c2;
    int fd = socket(AF_INET, SOCK_STREAM, 0), hl;
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    memset(buf, 'x', sizeof buf);
    hl = snprintf(hdr, sizeof hdr, "BULK %llu %llu\n", (unsigned long long)bytes,
                  (unsigned long long)bytes);
    c0 = proc_cpu(pid);
    t0 = now();
    if (send(fd, hdr, hl, 0) != hl) die("send");
    for (left = bytes; left > 0;) {
        ssize_t n = send(fd, buf, left < CHUNK ? left : CHUNK, 0);
        if (n < 0) { if (errno == EINTR) continue; die("send"); }
        left -= n;
    }
    t1 = c1 = 0;
    while (got < bytes) {
        ssize_t n = recv(fd, buf, CHUNK, 0);
        if (n < 0) { if (errno == EINTR) continue; die("recv"); }
        if (n == 0) break;
        if (got == 0) { t1 = now(); c1 = proc_cpu(pid); }
        got += n;
    }
    t2 = now();
    c2 = proc_cpu(pid);
    close(fd);
    if (got != bytes) {
        fprintf(stderr, "bulk: received %llu of %llu bytes\n", (unsigned long long)got,
                (unsigned long long)bytes);
        return 1;
    }
    printf("BULK bytes %llu sink_secs %.6f sink_cpu %.4f source_secs %.6f source_cpu %.4f\n",
           (unsigned long long)bytes, t1 - t0, c1 - c0, t2 - t1, c2 - c1);
    return 0;
}

enum { IDLE, CONNECTING, REPLY };

typedef struct slot {
    int fd, state;
} slot;

static int churn(int port, int total, int conc, int nsrc) {
    struct sockaddr_in sa = server_addr(port);
    struct epoll_event ev, evs[256];
    slot *slots = calloc(conc, sizeof *slots);
    int epfd = epoll_create1(0), started = 0, done = 0, errors = 0, one = 1;
    double t0;
    if (!slots || epfd < 0) die("setup");
    t0 = now();
    for (;;) {
        /* start a connection in every idle slot */
        for (int i = 0; i < conc && started < total; i++) {
            slot *s = &slots[i];
            struct sockaddr_in src;
            if (s->state != IDLE) continue;
            s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s->fd < 0) die("socket");
            /* the port is chosen at connect(), by the whole 4-tuple */
            setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            memset(&src, 0, sizeof src);
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl(0x7f000002 + (started % nsrc));
            if (bind(s->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
            if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
                die("connect");
            s->state = CONNECTING;
            ev.events = EPOLLOUT;
            ev.data.u32 = i;
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
            started++;
        }
        if (done + errors == total) break;
        int n = epoll_wait(epfd, evs, 256, 10000);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        if (n == 0) { fprintf(stderr, "churn: stalled after %d connections\n", done); return 1; }
        for (int k = 0; k < n; k++) {
            slot *s = &slots[evs[k].data.u32];
            if (s->state == CONNECTING) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err || send(s->fd, "x", 1, MSG_NOSIGNAL) != 1) {
                    errors++;
                    close(s->fd);
                    s->state = IDLE;
                    continue;
                }
                s->state = REPLY;
                ev.events = EPOLLIN;
                ev.data.u32 = evs[k].data.u32;
                epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
            } else if (s->state == REPLY) {
                char b;
                ssize_t r = recv(s->fd, &b, 1, 0);
                if (r < 0 && errno == EAGAIN) continue;
                if (r != 1) errors++;
                else done++;
                close(s->fd);
                s->state = IDLE;
            }
        }
    }
    double secs = now() - t0;
    printf("CHURN conns %d errors %d secs %.6f\n", done, errors, secs);
    return errors > 0;
}

int main(int argc, char **argv) {
    alarm(300);
    if (argc == 5 && !strcmp(argv[1], "bulk"))
        return bulk(atoi(argv[2]), strtoull(argv[3], NULL, 10), atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "cpu")) {
        printf("%.6f\n", proc_cpu(atoi(argv[2])));
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "churn"))
        return churn(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: %s bulk PORT BYTES SERVER_PID | churn PORT TOTAL CONCURRENCY NSRC | cpu PID\n",
            argv[0]);
    return 2;
}
