/* bench/c/server.c WORKLOAD: the hand-written C reference server.
 *
 * The logic of bench/app.lua (same parsing, same replies, same buffer
 * sizes) on raw edge-triggered epoll, one state machine per connection,
 * with the syscall rules the Lua servers follow: try the syscall first,
 * register with epoll on the first EAGAIN, a short read means the receive
 * queue is drained and a short write that the send queue is full.
 * Prints "PORT <port> PID <pid>" when it listens; runs until killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BUFSZ 16384
#define CHUNK (256 * 1024)
#define EVMAX 512
#define MAXFD 65536

enum { K_RESP, K_HTTP, K_CHURN, K_BULK };

typedef struct conn {
    int fd;
    int rready, wready, hup, watched, rwait, wwait;
    int again;             /* the input may hold more complete requests */
    uint8_t *ib, *ob;
    int ilen, olen, opos;
    /* bulk */
    int phase;             /* 0 header, 1 sink, 2 source */
    uint64_t left;
    uint64_t source;
} conn;

static int kind, epfd, lfd;
static conn *conns[MAXFD];
static uint8_t chunk[CHUNK];

/* ---- the application logic (mirrors bench/app.lua) ---- */

static const char PONG[] = "+PONG\r\n";
static const char ERR[] = "-ERR unknown command\r\n";
static const char EMPTY[] = "*0\r\n";
static const char HTTP_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

static int find_crlf(const uint8_t *p, int i, int n) {
    for (; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n') return i;
    return -1;
}

static int parse_uint(const uint8_t *p, int i, int e) {
    int v = 0;
    if (i >= e || e - i > 9) return -1;
    for (; i < e; i++) {
        int d = p[i] - '0';
        if (d < 0 || d > 9) return -1;
        v = v * 10 + d;
    }
    return v;
}

static int is_word(const uint8_t *p, int i, int len, const char *w, int wlen) {
    if (len != wlen) return 0;
    for (int k = 0; k < wlen; k++) {
        int c = p[i + k];
        if (c >= 'a' && c <= 'z') c -= 32;
        if (c != w[k]) return 0;
    }
    return 1;
}

static int put_bulk(uint8_t *ob, int o, const uint8_t *p, int i, int len) {
    int div = 1;
    ob[o++] = '$';
    while (div * 10 <= len) div *= 10;
    for (; div >= 1; div /= 10) ob[o++] = '0' + (len / div) % 10;
    ob[o++] = '\r'; ob[o++] = '\n';
    memcpy(ob + o, p + i, len);
    o += len;
    ob[o++] = '\r'; ob[o++] = '\n';
    return o;
}

#define PUT(s) do { if (o + (int)sizeof(s) - 1 > ocap) return -1; \
                    memcpy(ob + o, s, sizeof(s) - 1); return o + (int)sizeof(s) - 1; } while (0)

static int reply(const uint8_t *p, int ci, int clen, int argc, int ai, int alen,
                 uint8_t *ob, int o, int ocap) {
    if (is_word(p, ci, clen, "PING", 4)) {
        if (argc == 1) PUT(PONG);
        if (argc == 2) {
            if (o + alen + 16 > ocap) return -1;
            return put_bulk(ob, o, p, ai, alen);
        }
    } else if (is_word(p, ci, clen, "CONFIG", 6)) {
        PUT(EMPTY);
    }
    PUT(ERR);
}

/* returns bytes consumed, -1 on a protocol error; *olen the reply length */
static int resp(const uint8_t *p, int n, uint8_t *ob, int ocap, int *olen) {
    int pos = 0, o = 0;
    while (pos < n) {
        int ci = 0, clen = 0, argc, ai = 0, alen = 0, nextpos;
        if (p[pos] == '*') {
            int e = find_crlf(p, pos + 1, n), q, i;
            if (e < 0) break;
            argc = parse_uint(p, pos + 1, e);
            if (argc < 1 || argc > 1024) return -1;
            q = e + 2;
            for (i = 1; i <= argc; i++) {
                int e2, blen, s;
                if (q >= n) break;
                if (p[q] != '$') return -1;
                e2 = find_crlf(p, q + 1, n);
                if (e2 < 0) break;
                blen = parse_uint(p, q + 1, e2);
                if (blen < 0) return -1;
                s = e2 + 2;
                if (s + blen + 2 > n) break;
                if (i == 1) { ci = s; clen = blen; } else if (i == 2) { ai = s; alen = blen; }
                q = s + blen + 2;
            }
            if (i <= argc) break;
            nextpos = q;
        } else {
            int e = find_crlf(p, pos, n), i;
            if (e < 0) {
                if (n - pos > 4096) return -1;
                break;
            }
            i = pos;
            while (i < e && p[i] == ' ') i++;
            ci = i;
            while (i < e && p[i] != ' ') i++;
            clen = i - ci;
            while (i < e && p[i] == ' ') i++;
            argc = 1;
            if (i < e) {
                ai = i;
                while (i < e && p[i] != ' ') i++;
                alen = i - ai;
                argc = 2;
                while (i < e && p[i] == ' ') i++;
                if (i < e) argc = 3;
            }
            nextpos = e + 2;
            if (clen == 0) argc = 0;
        }
        if (argc == 0) {
            pos = nextpos;
        } else {
            int o2 = reply(p, ci, clen, argc, ai, alen, ob, o, ocap);
            if (o2 < 0) break;
            o = o2;
            pos = nextpos;
        }
    }
    *olen = o;
    return pos;
}

static int http(const uint8_t *p, int n, uint8_t *ob, int ocap, int *olen) {
    int pos = 0, o = 0, rlen = sizeof HTTP_REPLY - 1;
    while (pos < n) {
        int c = p[pos], i, e = -1;
        if (c < 'A' || c > 'Z') return -1;
        for (i = pos; i + 3 < n; i++)
            if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
                e = i + 4;
                break;
            }
        if (e < 0) break;
        if (o + rlen > ocap) break;
        memcpy(ob + o, HTTP_REPLY, rlen);
        o += rlen;
        pos = e;
    }
    *olen = o;
    return pos;
}

static int echo(const uint8_t *p, int n, uint8_t *ob, int ocap, int *olen) {
    if (n > ocap) n = ocap;
    memcpy(ob, p, n);
    *olen = n;
    return n;
}

/* "BULK <sink> <source>\n": 1 and the numbers, 0 if incomplete, -1 if bad */
static int bulk_header(const uint8_t *p, int n, uint64_t *sink, uint64_t *source, int *hlen) {
    int e = -1, i;
    uint64_t a = 0, b = 0;
    for (i = 0; i < n; i++) if (p[i] == '\n') { e = i; break; }
    if (e < 0) return n > 64 ? -1 : 0;
    if (e < 5 || p[0] != 'B' || p[4] != ' ') return -1;
    for (i = 5; i < e && p[i] != ' '; i++) {
        int d = p[i] - '0';
        if (d < 0 || d > 9) return -1;
        a = a * 10 + d;
    }
    for (i++; i < e; i++) {
        int d = p[i] - '0';
        if (d < 0 || d > 9) return -1;
        b = b * 10 + d;
    }
    *sink = a; *source = b; *hlen = e + 1;
    return 1;
}

/* ---- buffers and connections ---- */

static uint8_t *free_bufs[4096];
static int nfree;

static uint8_t *getbuf(void) {
    if (nfree > 0) return free_bufs[--nfree];
    uint8_t *b = malloc(BUFSZ);
    if (!b) abort();
    return b;
}

static void putbuf(uint8_t *b) {
    if (nfree < 4096) free_bufs[nfree++] = b;
    else free(b);
}

static conn *new_conn(int fd) {
    conn *c = calloc(1, sizeof *c);
    if (!c || fd >= MAXFD) abort();
    c->fd = fd;
    c->rready = c->wready = 1;
    c->ib = getbuf();
    c->ob = getbuf();
    conns[fd] = c;
    return c;
}

static void close_conn(conn *c) {
    conns[c->fd] = NULL;
    close(c->fd);
    putbuf(c->ib);
    putbuf(c->ob);
    free(c);
}

static void watch(conn *c) {
    struct epoll_event ev;
    if (c->watched) return;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (uint64_t)c->fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) { perror("epoll_ctl"); exit(1); }
    c->watched = 1;
}

/* Runs the handler on the buffered input; 0 means close. */
static int process(conn *c) {
    int olen = 0, used;
    switch (kind) {
    case K_RESP: used = resp(c->ib, c->ilen, c->ob, BUFSZ, &olen); break;
    case K_HTTP: used = http(c->ib, c->ilen, c->ob, BUFSZ, &olen); break;
    default: used = echo(c->ib, c->ilen, c->ob, BUFSZ, &olen); break;
    }
    if (used < 0) return 0;
    c->olen = olen;
    c->opos = 0;
    if (used > 0) {
        c->ilen -= used;
        if (c->ilen > 0) {
            memmove(c->ib, c->ib + used, c->ilen);
            c->again = 1;
        }
    }
    return c->ilen < BUFSZ;
}

/* Returns -1 on EAGAIN (flag cleared), 0 to close, else bytes. */
static ssize_t do_recv(conn *c, void *buf, size_t len) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0) {
            if (n > 0 && (size_t)n < len && !c->hup) c->rready = 0;
            return n == 0 ? 0 : n;
        }
        if (errno == EAGAIN) { c->rready = 0; return -1; }
        if (errno != EINTR) return 0;
    }
}

static ssize_t do_send(conn *c, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            if ((size_t)n < len) c->wready = 0;
            return n;
        }
        if (errno == EAGAIN) { c->wready = 0; return -1; }
        if (errno != EINTR) return -2;
    }
}

/* Moves a request/response connection as far as it can go. */
static void drive_req(conn *c) {
    c->rwait = c->wwait = 0;
    for (;;) {
        if (c->opos < c->olen) {
            ssize_t n;
            if (!c->wready) { watch(c); c->wwait = 1; return; }
            n = do_send(c, c->ob + c->opos, c->olen - c->opos);
            if (n == -2) { close_conn(c); return; }
            if (n > 0) c->opos += n;
            if (c->opos < c->olen) continue;
            c->opos = c->olen = 0;
        }
        if (c->again) {
            c->again = 0;
            if (!process(c)) { close_conn(c); return; }
            continue;
        }
        if (!c->rready) { watch(c); c->rwait = 1; return; }
        ssize_t n = do_recv(c, c->ib + c->ilen, BUFSZ - c->ilen);
        if (n == 0) { close_conn(c); return; }
        if (n < 0) continue;
        c->ilen += n;
        if (!process(c)) { close_conn(c); return; }
    }
}

static void drive_bulk(conn *c) {
    c->rwait = c->wwait = 0;
    for (;;) {
        if (c->phase == 0) {
            uint64_t sink, source;
            int hlen, r;
            if (!c->rready) { watch(c); c->rwait = 1; return; }
            ssize_t n = do_recv(c, c->ib + c->ilen, 128 - c->ilen);
            if (n == 0) { close_conn(c); return; }
            if (n < 0) continue;
            c->ilen += n;
            r = bulk_header(c->ib, c->ilen, &sink, &source, &hlen);
            if (r < 0) { close_conn(c); return; }
            if (r == 0) continue;
            c->left = sink - (uint64_t)(c->ilen - hlen);
            c->source = source;
            c->phase = 1;
        } else if (c->phase == 1) {
            if (c->left == 0) { c->phase = 2; c->left = c->source; c->opos = 0; continue; }
            if (!c->rready) { watch(c); c->rwait = 1; return; }
            ssize_t n = do_recv(c, chunk, c->left < CHUNK ? c->left : CHUNK);
            if (n == 0) { close_conn(c); return; }
            if (n > 0) c->left -= n;
        } else {
            /* like sendall(chunk, len) per CHUNK: opos is the offset in it */
            if (c->left == 0) { close_conn(c); return; }
            if (!c->wready) { watch(c); c->wwait = 1; return; }
            size_t len = c->left < CHUNK ? c->left : CHUNK;
            ssize_t n = do_send(c, chunk + c->opos, len - c->opos);
            if (n == -2) { close_conn(c); return; }
            if (n > 0) {
                c->opos += n;
                if ((size_t)c->opos == len) { c->left -= len; c->opos = 0; }
            }
        }
    }
}

static void drive(conn *c) {
    if (kind == K_BULK) drive_bulk(c); else drive_req(c);
}

static int accept_ready = 1;

static void accept_all(void) {
    while (accept_ready) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN) accept_ready = 0;
            else if (errno != EINTR && errno != ECONNABORTED) { perror("accept4"); exit(1); }
            continue;
        }
        drive(new_conn(fd));
    }
}

int main(int argc, char **argv) {
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    struct epoll_event ev, evs[EVMAX];
    int one = 1;
    if (argc < 2) goto usage;
    if (!strcmp(argv[1], "resp")) kind = K_RESP;
    else if (!strcmp(argv[1], "http")) kind = K_HTTP;
    else if (!strcmp(argv[1], "churn")) kind = K_CHURN;
    else if (!strcmp(argv[1], "bulk")) kind = K_BULK;
    else goto usage;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
        perror("listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    accept_all(); /* EAGAIN at once: then the listener is registered */
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = (uint64_t)lfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    printf("PORT %d PID %d\n", ntohs(sa.sin_port), (int)getpid());
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(epfd, evs, EVMAX, -1);
        for (int i = 0; i < n; i++) {
            int fd = (int)evs[i].data.u64;
            uint32_t f = evs[i].events;
            if (fd == lfd) { accept_ready = 1; accept_all(); continue; }
            conn *c = conns[fd];
            if (!c) continue;
            int go = 0;
            if (f & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
                c->rready = 1;
                if (f & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) c->hup = 1;
                if (c->rwait) go = 1;
            }
            if (f & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                c->wready = 1;
                if (c->wwait) go = 1;
            }
            if (go) drive(c);
        }
    }
usage:
    fprintf(stderr, "usage: %s resp|http|bulk|churn\n", argv[0]);
    return 2;
}
