/* lookup.c -- getaddrinfo and getnameinfo on worker threads, so a slow or
 * hanging name lookup never stalls a loop. A request's end is posted to its
 * loop's inbox as an S2_DONE|S2_LOOKUP event. One global mutex guards
 * request states: the worker, the owner (take/cancel) and s2_close can race
 * for a request. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
/* the one platform switch left here: the headers that declare getaddrinfo
 * and getnameinfo differ (winsock vs netdb), and an include cannot move */
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

enum { S2_LK_QUEUED, S2_LK_RUNNING, S2_LK_DONE, S2_LK_ABANDONED };
enum { S2_LK_ADDRINFO, S2_LK_NAMEINFO };

/* getnameinfo's request and results (NI_MAXHOST, NI_MAXSERV bytes) */
struct s2__ni {
    struct sockaddr_storage sa;
    int salen, flags;
    char host[1025], serv[32];
};

struct s2_lookup {
    struct s2_lookup *next_q;            /* work queue */
    struct s2_lookup *prev, *next;       /* owner loop's list */
    s2_loop *loop;                       /* NULL once abandoned */
    int state, kind;
    uint32_t id, gen;
    char *host, *service;                /* S2_LK_ADDRINFO */
    struct addrinfo hints;
    struct addrinfo *res;
    struct s2__ni *ni;                   /* S2_LK_NAMEINFO */
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
    free(r->host); free(r->service); free(r->ni); free(r);
}

static void s2__unlink(struct s2_lookup *r) {
    s2_common *c = S2_COMMON(r->loop);
    if (r->prev) r->prev->next = r->next; else c->lookups = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->loop = NULL;
}

/* The request's call, outside the lock: only this worker touches r's
 * results until it is marked done. */
static int32_t s2__resolve(struct s2_lookup *r, struct addrinfo **res) {
    int rc;
    if (r->kind == S2_LK_NAMEINFO) {
        struct s2__ni *ni = r->ni;
        rc = getnameinfo((struct sockaddr *)&ni->sa, ni->salen, ni->host, sizeof ni->host,
                         ni->serv, sizeof ni->serv, ni->flags);
    } else {
        rc = getaddrinfo(r->host, r->service, &r->hints, res);
    }
    return s2_from_gaierror(rc, rc ? errno : 0);
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
            int32_t result = s2__resolve(r, &res);
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
    s2_thrd t;
    int32_t rc;
    s2__pin_module();
    if ((rc = s2__thrd_create(&t, s2__worker, NULL, 256 * 1024)) == 0) s2__thrd_detach(t);
    return rc;
}

/* A new request of this kind for loop, or NULL (*rc says why). */
static struct s2_lookup *s2__new_req(s2_loop *loop, int kind, uint32_t id, uint32_t gen, int32_t *rc) {
    struct s2_lookup *r;
    s2__init();
    if (!inited || !(r = calloc(1, sizeof *r))) { *rc = -S2_ENOMEM; return NULL; }
    r->kind = kind; r->id = id; r->gen = gen; r->loop = loop; r->state = S2_LK_QUEUED;
    return r;
}

/* Queues r, starting a worker when none is idle; 0, or -S2_E* and r freed. */
static int32_t s2__enqueue(struct s2_lookup *r, s2_lookup **out) {
    s2_common *c = S2_COMMON(r->loop);
    s2_mutex_lock(&mu);
    if (idle == 0 && threads < S2_LOOKUP_THREADS) {
        if (s2__start_worker() == 0) threads++;
        else if (threads == 0) { s2_mutex_unlock(&mu); s2__free_req(r); return -S2_EAGAIN; }
    }
    r->next = c->lookups; if (r->next) r->next->prev = r; c->lookups = r;
    if (q_tail) q_tail->next_q = r; else q_head = r;
    q_tail = r;
    s2_cond_signal(&cv);
    s2_mutex_unlock(&mu);
    *out = r;
    return 0;
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
    int32_t rc;
    if (!loop || !out || (!host && !service) || id > S2_MAX_ID) return -S2_EINVAL;
    *out = NULL;
    if (!(r = s2__new_req(loop, S2_LK_ADDRINFO, id, gen, &rc))) return rc;
    r->host = s2__strdup(host); r->service = s2__strdup(service);
    if ((host && !r->host) || (service && !r->service)) { s2__free_req(r); return -S2_ENOMEM; }
    r->hints.ai_family = family; r->hints.ai_socktype = socktype;
    r->hints.ai_protocol = protocol; r->hints.ai_flags = flags;
    return s2__enqueue(r, out);
}

S2_API int32_t s2_nameinfo_start(s2_loop *loop, const void *sa, int32_t salen, int32_t flags,
                                 uint32_t id, uint32_t gen, s2_lookup **out) {
    struct s2_lookup *r;
    int32_t rc;
    if (!loop || !out || !sa || salen <= 0 || salen > (int32_t)sizeof(struct sockaddr_storage) ||
        id > S2_MAX_ID)
        return -S2_EINVAL;
    *out = NULL;
    if (!(r = s2__new_req(loop, S2_LK_NAMEINFO, id, gen, &rc))) return rc;
    if (!(r->ni = calloc(1, sizeof *r->ni))) { s2__free_req(r); return -S2_ENOMEM; }
    memcpy(&r->ni->sa, sa, (size_t)salen);
    r->ni->salen = salen;
    r->ni->flags = flags;
    return s2__enqueue(r, out);
}

/* Takes a finished request out of its loop's list: 1, or 0 when it has
 * not finished (it stays queued). */
static int s2__take(struct s2_lookup *r) {
    int done;
    s2_mutex_lock(&mu);
    done = r->state == S2_LK_DONE;
    if (done) s2__unlink(r);
    s2_mutex_unlock(&mu);
    return done;
}

S2_API int32_t s2_lookup_take(s2_lookup *r, void **addrinfo) {
    int32_t rc;
    if (!r || !addrinfo || r->kind != S2_LK_ADDRINFO) return -S2_EINVAL;
    if (!s2__take(r)) return -S2_EAGAIN;
    rc = r->result;
    *addrinfo = rc == 0 ? r->res : NULL;
    if (rc == 0) r->res = NULL;
    s2__free_req(r);
    return rc;
}

/* Copies the string s into dst (room bytes, NUL included), truncated. */
static void s2__copy(char *dst, int32_t room, const char *s) {
    size_t n = strlen(s);
    if (room <= 0) return;
    if (n >= (size_t)room) n = (size_t)room - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

S2_API int32_t s2_nameinfo_take(s2_lookup *r, char *host, int32_t hostlen, char *serv, int32_t servlen) {
    int32_t rc;
    if (!r || r->kind != S2_LK_NAMEINFO || (hostlen > 0 && !host) || (servlen > 0 && !serv))
        return -S2_EINVAL;
    if (!s2__take(r)) return -S2_EAGAIN;
    rc = r->result;
    s2__copy(host, hostlen, rc == 0 ? r->ni->host : "");
    s2__copy(serv, servlen, rc == 0 ? r->ni->serv : "");
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
