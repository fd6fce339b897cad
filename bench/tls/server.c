/* bench/tls/server.c CERT KEY: the C reference TLS server of `make bench`
 * (TLS workloads): one thread, edge-triggered epoll, non-blocking sockets,
 * OpenSSL on the descriptor (SSL_set_fd: the socket BIO, no copies through
 * memory BIOs). The same application logic as the Lua servers:
 *   - HTTP: every request that ends in "\r\n\r\n" gets bench/app.lua's
 *     "Hello, World!" reply (keep-alive);
 *   - "BULK a b\n": a bytes from the client are discarded, then b bytes go
 *     back (bench/app.lua's bulk protocol).
 * Prints "PORT p PID pid" when it listens on 127.0.0.1 (port 0). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 16384
#define CHUNK (256 * 1024)
static const char REPLY[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

typedef struct conn {
    int fd;
    SSL *ssl;
    int hs_done;
    char in[BUFSZ];
    size_t ilen;
    char out[BUFSZ];
    size_t olen, opos;
    int bulk;                 /* 1: sinking, 2: sourcing */
    long long sink, source;
} conn;

static char chunk[CHUNK];

static void drop(int ep, conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->hs_done) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
    ERR_clear_error();
}

/* 1: progress made or would block (wait), 0: done with the connection */
static int would_block(conn *c, int r) {
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 1;
    return 0;
}

static int flush_out(conn *c) {
    while (c->opos < c->olen) {
        size_t n = 0;
        int r = SSL_write_ex(c->ssl, c->out + c->opos, c->olen - c->opos, &n);
        if (r != 1) return would_block(c, r) ? 1 : -1;
        c->opos += n;
    }
    c->opos = c->olen = 0;
    return 0;
}

static int parse_bulk(conn *c, size_t *used) {
    char *nl = memchr(c->in, '\n', c->ilen);
    if (!nl) return 0;
    if (sscanf(c->in, "BULK %lld %lld", &c->sink, &c->source) != 2) return -1;
    *used = (size_t)(nl - c->in) + 1;
    return 1;
}

/* runs the connection as far as it goes: 0 keep, -1 drop */
static int step(conn *c) {
    if (!c->hs_done) {
        int r = SSL_accept(c->ssl);
        if (r != 1) return would_block(c, r) ? 0 : -1;
        c->hs_done = 1;
    }
    for (;;) {
        int f = flush_out(c);
        if (f < 0) return -1;
        if (f > 0) return 0;
        if (c->bulk == 2) {
            while (c->source > 0) {
                size_t n = 0, want = c->source < CHUNK ? (size_t)c->source : CHUNK;
                int r = SSL_write_ex(c->ssl, chunk, want, &n);
                if (r != 1) return would_block(c, r) ? 0 : -1;
                c->source -= (long long)n;
            }
            c->bulk = 0;
            continue;
        }
        if (c->bulk == 1) {
            while (c->sink > 0) {
                size_t n = 0, want = c->sink < CHUNK ? (size_t)c->sink : CHUNK;
                int r = SSL_read_ex(c->ssl, chunk, want, &n);
                if (r != 1) return would_block(c, r) ? 0 : -1;
                c->sink -= (long long)n;
            }
            c->bulk = 2;
            continue;
        }
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, c->in + c->ilen, BUFSZ - c->ilen, &n);
        if (r != 1) return would_block(c, r) ? 0 : -1;
        c->ilen += n;
        size_t used = 0;
        if (c->ilen >= 5 && memcmp(c->in, "BULK ", 5) == 0) {
            int b = parse_bulk(c, &used);
            if (b < 0) return -1;
            if (b == 0) continue;
            long long already = (long long)(c->ilen - used);
            c->sink -= already;
            c->ilen = 0;
            c->bulk = c->sink > 0 ? 1 : 2;
            continue;
        }
        /* HTTP: one reply per complete request */
        for (;;) {
            char *end = memmem(c->in + used, c->ilen - used, "\r\n\r\n", 4);
            if (!end) break;
            used = (size_t)(end - c->in) + 4;
            if (c->olen + sizeof REPLY - 1 > BUFSZ) break;
            memcpy(c->out + c->olen, REPLY, sizeof REPLY - 1);
            c->olen += sizeof REPLY - 1;
        }
        memmove(c->in, c->in + used, c->ilen - used);
        c->ilen -= used;
        if (c->ilen == BUFSZ) return -1;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s cert.pem key.pem\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN); /* a client that leaves mid-write */
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr); return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"bench", 5);
    /* as socket2.tls and nginx by default: stateless tickets, no internal cache */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);

    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1024) || getsockname(l, (struct sockaddr *)&a, &alen)) {
        perror("listen"); return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    printf("PORT %d PID %d\n", ntohs(a.sin_port), getpid());
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    c->ssl = SSL_new(ctx);
                    SSL_set_fd(c->ssl, fd);
                    SSL_set_accept_state(c->ssl);
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                    if (step(c) < 0) drop(ep, c);
                }
                continue;
            }
            if (step(c) < 0) drop(ep, c);
        }
    }
}
