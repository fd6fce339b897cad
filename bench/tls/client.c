/* bench/tls/client.c: the TLS load client of `make bench` (TLS workloads).
 *   client hs PORT N RESUME CAFILE SPID
 *       N connections one after the other: connect, handshake (RESUME=1:
 *       with the session the previous connection left, taken anew each
 *       time: a TLS 1.3 ticket resumes once), "GET /" over HTTP/1.1, read
 *       the reply to its "Hello, World!", close_notify, close.
 *       Prints "HS n seconds reused server_cpu_seconds".
 *   client bulk PORT BYTES CAFILE SPID
 *       "BULK BYTES BYTES\n", BYTES to the server, BYTES back. Prints
 *       "BULK bytes sink_seconds sink_cpu source_seconds source_cpu".
 * Server CPU is read from the server's process CPU clock (SPID). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static clockid_t server_clock;
static double server_cpu(void) {
    struct timespec t;
    if (clock_gettime(server_clock, &t) != 0) return -1;
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static SSL *tls(SSL_CTX *ctx, int fd, SSL_SESSION *sess) {
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (sess) SSL_set_session(ssl, sess);
    if (SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); exit(1); }
    return ssl;
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: client hs|bulk PORT N|BYTES RESUME|- CAFILE SPID\n"); return 2; }
    int port = atoi(argv[2]);
    if (clock_getcpuclockid(atoi(argv[6]), &server_clock) != 0) { perror("clock_getcpuclockid"); return 1; }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, argv[5], NULL) != 1) { ERR_print_errors_fp(stderr); return 1; }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (strcmp(argv[1], "hs") == 0) {
        long n = atol(argv[3]);
        int resume = atoi(argv[4]);
        SSL_SESSION *sess = NULL;
        long reused = 0;
        static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        double c0 = server_cpu(), t0 = now();
        for (long i = 0; i < n; i++) {
            int fd = dial(port);
            SSL *ssl = tls(ctx, fd, resume ? sess : NULL);
            reused += SSL_session_reused(ssl);
            SSL_write(ssl, req, sizeof req - 1);
            char buf[4096];
            size_t got = 0;
            for (;;) {
                int r = SSL_read(ssl, buf + got, (int)(sizeof buf - got - 1));
                if (r <= 0) { fprintf(stderr, "read failed\n"); ERR_print_errors_fp(stderr); return 1; }
                got += (size_t)r;
                buf[got] = 0;
                if (strstr(buf, "Hello, World!")) break;
            }
            if (resume) {
                if (sess) SSL_SESSION_free(sess);
                sess = SSL_get1_session(ssl);
            }
            SSL_shutdown(ssl);
            SSL_free(ssl);
            close(fd);
        }
        double t1 = now(), c1 = server_cpu();
        printf("HS %ld %.6f %ld %.6f\n", n, t1 - t0, reused, c1 - c0);
        return 0;
    }
    long long bytes = atoll(argv[3]);
    static char buf[256 * 1024];
    int fd = dial(port);
    SSL *ssl = tls(ctx, fd, NULL);
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "BULK %lld %lld\n", bytes, bytes);
    SSL_write(ssl, hdr, hl);
    double c0 = server_cpu(), t0 = now();
    for (long long left = bytes; left > 0;) {
        size_t n = 0;
        if (SSL_write_ex(ssl, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf, &n) != 1) {
            ERR_print_errors_fp(stderr); return 1;
        }
        left -= (long long)n;
    }
    double t1 = 0, c1 = 0;
    for (long long left = bytes; left > 0;) {
        size_t n = 0;
        if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) { ERR_print_errors_fp(stderr); return 1; }
        if (t1 == 0) { c1 = server_cpu(); t1 = now(); } /* the server turned from sinking to sourcing */
        left -= (long long)n;
    }
    double t2 = now(), c2 = server_cpu();
    printf("BULK %lld %.6f %.6f %.6f %.6f\n", bytes, t1 - t0, c1 - c0, t2 - t1, c2 - c1);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return 0;
}
