/* bench/threads/load.c -- the load for bench/threads/run.lua: nconns
 * connections to 127.0.0.1:port, each sending a size-byte request and
 * waiting for the size-byte echo before the next, for warmup + seconds;
 * prints the requests completed after the warmup.
 *
 *   load PORT NCONNS SECONDS [SIZE] [WARMUP]
 *
 * One thread, one epoll fd, level-triggered: a small, cheap C client, so
 * that most of the machine is left to the server being measured. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd, got; };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int port, n, size, i, ep;
    double secs, warm, t0, t_count = 0, end;
    long count = 0;
    int counting = 0;
    struct conn *cs;
    char req[4096], buf[4096];
    struct sockaddr_in sa;
    struct epoll_event ev, evs[256];
    if (argc < 4) { fprintf(stderr, "usage: load PORT NCONNS SECONDS [SIZE] [WARMUP]\n"); return 2; }
    port = atoi(argv[1]); n = atoi(argv[2]); secs = atof(argv[3]);
    size = argc > 4 ? atoi(argv[4]) : 64;
    warm = argc > 5 ? atof(argv[5]) : 1.0;
    if (size < 1 || size > (int)sizeof req) return 2;
    memset(req, 'q', sizeof req);
    cs = calloc((size_t)n, sizeof *cs);
    ep = epoll_create1(0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < n; i++) {
        int one = 1;
        cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(cs[i].fd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("connect"); return 1; }
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        if (write(cs[i].fd, req, (size_t)size) != size) { perror("write"); return 1; }
    }
    t0 = now();
    end = t0 + warm + secs;
    for (;;) {
        int k, m = epoll_wait(ep, evs, 256, 100);
        double t = now();
        if (!counting && t >= t0 + warm) { counting = 1; count = 0; t_count = t; }
        if (t >= end) break;
        for (k = 0; k < m; k++) {
            struct conn *c = &cs[evs[k].data.u32];
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0) { fprintf(stderr, "load: connection lost\n"); return 1; }
            c->got += (int)r;
            if (c->got >= size) {
                c->got -= size;
                count++;
                if (write(c->fd, req, (size_t)size) != size) { perror("write"); return 1; }
            }
        }
    }
    printf("requests %ld seconds %.3f\n", count, now() - t_count);
    for (i = 0; i < n; i++) close(cs[i].fd);
    return 0;
}
