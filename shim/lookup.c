/* lookup.c -- getaddrinfo on worker threads, so a slow or hanging name
 * lookup never stalls a loop. A request's end is posted to its loop's inbox
 * as an S2_DONE|S2_LOOKUP event. One global mutex guards request states: the
 * worker, the owner (take/cancel) and s2_close can race for a request. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
/* the one platform switch left here: where getaddrinfo is declared */
#if defined(_WIN32)
#  include <winsock2.h>
#  include <ws2tcpip.h>
#else
#  include <sys/types.h>
#  include <sys/socket.h>
#  include <netdb.h>
#endif
#include "s2_internal.h"

#define S2_LOOKUP_THREADS 4

S2_INTERNAL int32_t s2__from_gai(int rc, int err);

enum { S2_LK_QUEUED, S2_LK_RUNNING, S2_LK_DONE, S2_LK_ABANDONED };

struct s2_lookup {
    struct s2_lookup *next_q;            /* work queue */
    struct s2_lookup *prev, *next;       /* owner loop's list */
    s2_loop *loop;                       /* NULL once abandoned */
    int state;
    uint32_t id, gen;
    char *host, *service;
    struct addrinfo hints;
    struct addrinfo *res;
    int32_t result;
};

static s2_mutex mu;
static s2_cond  cv;
static int      inited, threads, idle;
static struct s2_lookup *q_head, *q_tail;

static s2_once once = S2_ONCE_INIT;
static void s2__init_cb(void) { s2_mutex_init(&mu); s2_cond_init(&cv); inited = 1; }
static void s2__init(void) { s2__once(&once, s2__init_cb); }

static void s2__free_req(struct s2_lookup *r) {
    if (r->res) freeaddrinfo(r->res);
    free(r->host); free(r->service); free(r);
}

static void s2__unlink(struct s2_lookup *r) {
    s2_common *c = S2_COMMON(r->loop);
    if (r->prev) r->prev->next = r->next; else c->lookups = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->loop = NULL;
}

static void s2__worker(void *arg) {
    (void)arg;
    s2_mutex_lock(&mu);
    for (;;) {
        struct s2_lookup *r;
        while (!q_head) { idle++; s2_cond_wait(&cv, &mu); idle--; }
        r = q_head; q_head = r->next_q; if (!q_head) q_tail = NULL;
        if (r->state == S2_LK_ABANDONED) { s2__free_req(r); continue; }
        r->state = S2_LK_RUNNING;
        s2_mutex_unlock(&mu);
        {
            struct addrinfo *res = NULL;
            int rc = getaddrinfo(r->host, r->service, &r->hints, &res);
            int32_t result = s2__from_gai(rc, rc ? errno : 0);
            s2_mutex_lock(&mu);
            r->res = res; r->result = result;
        }
        if (r->state == S2_LK_ABANDONED) { s2__free_req(r); continue; }
        r->state = S2_LK_DONE;
        {
            s2_event ev = { r->id, r->gen, r->result, S2_DONE | S2_LOOKUP };
            s2__post(r->loop, &ev);
        }
    }
}

/* Workers outlive any loop: the library that holds their code stays. */
static int32_t s2__start_worker(void) {
    s2__pin_module();
    return s2__thrd_start_detached(s2__worker, NULL, 256 * 1024);
}

static char *s2__strdup(const char *s) {
    size_t n;
    char *p;
    if (!s) return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

S2_API int32_t s2_lookup_start(s2_loop *loop, const char *host, const char *service,
                               int32_t family, int32_t socktype, int32_t protocol,
                               int32_t flags, uint32_t id, uint32_t gen,
                               s2_lookup **out) {
    struct s2_lookup *r;
    s2_common *c;
    if (!loop || !out || (!host && !service) || id > S2_MAX_ID) return -S2_EINVAL;
    *out = NULL;
    s2__init();
    if (!inited) return -S2_ENOMEM;
    r = calloc(1, sizeof *r);
    if (!r) return -S2_ENOMEM;
    r->host = s2__strdup(host); r->service = s2__strdup(service);
    if ((host && !r->host) || (service && !r->service)) { s2__free_req(r); return -S2_ENOMEM; }
    r->hints.ai_family = family; r->hints.ai_socktype = socktype;
    r->hints.ai_protocol = protocol; r->hints.ai_flags = flags;
    r->id = id; r->gen = gen; r->loop = loop; r->state = S2_LK_QUEUED;
    s2_mutex_lock(&mu);
    if (idle == 0 && threads < S2_LOOKUP_THREADS) {
        if (s2__start_worker() == 0) threads++;
        else if (threads == 0) { s2_mutex_unlock(&mu); s2__free_req(r); return -S2_EAGAIN; }
    }
    c = S2_COMMON(loop);
    r->next = c->lookups; if (r->next) r->next->prev = r; c->lookups = r;
    if (q_tail) q_tail->next_q = r; else q_head = r;
    q_tail = r;
    s2_cond_signal(&cv);
    s2_mutex_unlock(&mu);
    *out = r;
    return 0;
}

S2_API int32_t s2_lookup_take(s2_lookup *r, void **addrinfo) {
    int32_t rc;
    if (!r || !addrinfo) return -S2_EINVAL;
    s2_mutex_lock(&mu);
    if (r->state != S2_LK_DONE) { s2_mutex_unlock(&mu); return -S2_EAGAIN; }
    s2__unlink(r);
    s2_mutex_unlock(&mu);
    rc = r->result;
    *addrinfo = rc == 0 ? r->res : NULL;
    if (rc == 0) r->res = NULL;
    s2__free_req(r);
    return rc;
}

/* Abandon a request: a queued or running one is freed by its worker; a done
 * one now, and its event is taken back from the inbox. (An event that
 * s2_wait already returned is the caller's to drop, by generation.) */
static void s2__abandon_locked(struct s2_lookup *r) {
    /* a finished request's event may still wait in the inbox: take it back */
    if (r->state == S2_LK_DONE && r->loop)
        s2__inbox_remove(r->loop, r->id, r->gen, S2_DONE | S2_LOOKUP);
    if (r->loop) s2__unlink(r);
    if (r->state == S2_LK_DONE) s2__free_req(r);
    else r->state = S2_LK_ABANDONED;
}

S2_API void s2_lookup_cancel(s2_lookup *r) {
    if (!r) return;
    s2_mutex_lock(&mu);
    s2__abandon_locked(r);
    s2_mutex_unlock(&mu);
}

S2_INTERNAL void s2__lookups_abandon(s2_loop *loop) {
    s2__init();  /* reading inited unsynchronised raced with a first lookup */
    if (!inited) return;
    s2_mutex_lock(&mu);
    while (S2_COMMON(loop)->lookups) s2__abandon_locked(S2_COMMON(loop)->lookups);
    s2_mutex_unlock(&mu);
}
