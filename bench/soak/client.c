/* bench/soak/client.c -- the load of the soak test (bench/soak/run.sh).
 *
 *   client PORT SERVER_PID CONNECTIONS REQUESTS_PER_CONN CONCURRENCY
 *
 * Opens CONNECTIONS connections to 127.0.0.1:PORT, CONCURRENCY at a time,
 * each from one of 127.0.0.2..17 (so TIME_WAIT entries spread over 16
 * source addresses and never exhaust the ephemeral ports), sends
 * REQUESTS_PER_CONN "ping N" lines one after the other, checks each
 * "pong N", and closes. At the start, after 10% ("warm": JIT traces and
 * buffers exist by then), at the middle (with no connection in flight) and
 * at the end it prints the server's descriptor count (/proc/PID/fd), its
 * VmRSS and the server's own "stats" line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef struct conn {
    int fd, sent, got, len;
    char buf[128];
} conn;

static int port, pid, nconn, nreq, conc;
static long started, finished, requests;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) { perror(what); exit(1); }

static int count_fds(void) {
    char path[64];
    int n = 0;
    struct dirent *e;
    DIR *d;
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    if (!(d = opendir(path))) die("opendir");
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static long rss_kb(void) {
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(f = fopen(path, "r"))) die("status");
    while (fgets(line, sizeof line, f)) if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* one blocking connection for "stats" or "quit" */
static void control(const char *cmd, char *reply, size_t cap) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET; sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect(control)");
    if (write(fd, cmd, strlen(cmd)) < 0) die("write(control)");
    if (reply) {
        while (got < cap - 1) {
            ssize_t r = read(fd, reply + got, cap - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
            if (memchr(reply, '\n', got)) break;
        }
        reply[got] = 0;
        if (got && reply[got - 1] == '\n') reply[got - 1] = 0;
    }
    close(fd);
}

static void report(const char *point) {
    char st[256];
    control("stats\n", st, sizeof st);
    printf("%-7s connections=%-7ld requests=%-8ld server_fds=%-4d server_rss_kb=%-7ld %s\n",
           point, finished, requests, count_fds(), rss_kb(), st);
    fflush(stdout);
}

static int start_conn(int ep, conn *c) {
    struct sockaddr_in src, dst;
    int one = 1;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002 + (uint32_t)(started % 16));
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET; dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(0x7f000001);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket");
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) die("connect");
    c->sent = c->got = c->len = 0;
    {
        struct epoll_event ev = { EPOLLOUT | EPOLLIN, { .ptr = c } };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    }
    started++;
    return 0;
}

static void send_req(conn *c) {
    char line[64];
    int n = snprintf(line, sizeof line, "ping %d\n", c->sent);
    if (write(c->fd, line, (size_t)n) != n) die("write");
    c->sent++;
}

int main(int argc, char **argv) {
    int ep, i, paused = 0;
    conn *cs;
    struct epoll_event evs[256];
    double t0;
    if (argc < 6) { fprintf(stderr, "usage: client PORT PID CONNECTIONS REQUESTS CONCURRENCY\n"); return 2; }
    port = atoi(argv[1]); pid = atoi(argv[2]); nconn = atoi(argv[3]); nreq = atoi(argv[4]); conc = atoi(argv[5]);
    cs = calloc((size_t)conc, sizeof *cs);
    if ((ep = epoll_create1(0)) < 0) die("epoll");
    report("start");
    t0 = now();
    for (i = 0; i < conc && started < nconn; i++) start_conn(ep, &cs[i]);
    while (finished < nconn) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n <= 0) { fprintf(stderr, "client: no progress for 10 s\n"); return 1; }
        for (i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->sent == 0) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) { errno = err; die("connect (async)"); }
                struct epoll_event ev = { EPOLLIN, { .ptr = c } };
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                send_req(c);
                continue;
            }
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - (size_t)c->len);
                char *nl, want[32];
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) { fprintf(stderr, "client: server closed early\n"); return 1; }
                c->len += (int)r;
                c->buf[c->len] = 0;
                if (!(nl = memchr(c->buf, '\n', (size_t)c->len))) continue;
                snprintf(want, sizeof want, "pong %d\n", c->got);
                if (strncmp(c->buf, want, strlen(want)) != 0) { fprintf(stderr, "client: bad reply '%s'\n", c->buf); return 1; }
                c->got++; requests++;
                c->len = 0;
                if (c->got < nreq) { send_req(c); continue; }
                close(c->fd);
                finished++;
                if ((finished == nconn / 10 || finished == nconn / 2) && !paused) paused = 1;
                if (paused != 1 && started < nconn) start_conn(ep, c);
                else c->fd = -1;
                break;
            }
        }
        if (paused == 1 && started == finished) {
            /* nothing in flight: let the server finish its closes, then look */
            usleep(200000);
            report(finished < nconn / 2 ? "warm" : "middle");
            paused = 0;
            for (i = 0; i < conc && started < nconn; i++) start_conn(ep, &cs[i]);
        }
    }
    {
        double dt = now() - t0;
        usleep(200000);
        report("end");
        printf("soak: %ld requests over %ld connections (%d at a time, from 16 source addresses) in %.1f s: %.0f requests/s, %.0f connections/s\n",
               requests, finished, conc, dt, requests / dt, finished / dt);
    }
    control("quit\n", NULL, 0);
    return 0;
}
