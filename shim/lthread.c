/* lthread.c -- OS threads that run Lua, for lua/socket2/thread.lua.
 *
 * Each thread runs a fresh Lua state of the LuaJIT that this process runs:
 * its C API is looked up in the process (dlsym / GetProcAddress), so the
 * shim links no LuaJIT and loads into any host that exports it (Debian's
 * luajit binary does; so does any program linking libluajit). The state
 * loads a chunk, calls it with one string and keeps the string it returns
 * (or its error message) for s2_thread_join. Nothing else crosses between
 * states: Lua values are never shared.
 *
 * When a notify loop is given, the end of the thread is posted to it as an
 * event {id, gen, result = 1 (returned) | 0 (raised), S2_DONE}, so that a
 * socket2 thread can wait for it without blocking its OS thread. A loop
 * that closes first is forgotten (s2__threads_abandon). */
#include <stdlib.h>
#include <string.h>
#include "s2_internal.h"

typedef struct lua_State lua_State;

static struct {
    lua_State  *(*newstate)(void);
    void        (*openlibs)(lua_State *);
    int         (*loadbuffer)(lua_State *, const char *, size_t, const char *);
    void        (*pushlstring)(lua_State *, const char *, size_t);
    int         (*pcall)(lua_State *, int, int, int);
    const char *(*tolstring)(lua_State *, int, size_t *);
    void        (*close)(lua_State *);
} lua;

struct s2_thread {
    struct s2_thread *prev, *next;  /* running threads (under mu) */
    char    *chunk, *arg;
    size_t   chunklen, arglen;
    char    *res;
    size_t   reslen;
    int      ok, done, detached, joined;
    s2_loop *notify;
    uint32_t id, gen;
    s2_thrd  th;
};

static s2_mutex mu;
static int inited, have_lua;
static struct s2_thread *running;

/* the host's Lua C API --------------------------------------------------- */

#define S2_SYM(field, name) \
    (*(void **)(&lua.field) = s2__host_sym(lib, name)) != NULL

static void s2__init_cb(void) {
    int i;
    inited = s2_mutex_init(&mu) == 0;
    for (i = 0; i < 2 && !have_lua; i++) {
        void *lib;
        have_lua = s2__host_lib(i, &lib) &&
            S2_SYM(newstate, "luaL_newstate") && S2_SYM(openlibs, "luaL_openlibs") &&
            S2_SYM(loadbuffer, "luaL_loadbuffer") && S2_SYM(pushlstring, "lua_pushlstring") &&
            S2_SYM(pcall, "lua_pcall") && S2_SYM(tolstring, "lua_tolstring") &&
            S2_SYM(close, "lua_close");
    }
}

static s2_once once = S2_ONCE_INIT;
static void s2__init(void) { s2__once(&once, s2__init_cb); }

/* the thread ------------------------------------------------------------------ */

static void s2__free(struct s2_thread *t) {
    free(t->chunk); free(t->arg); free(t->res); free(t);
}

static void s2__run(void *p) {
    struct s2_thread *t = p;
    lua_State *L = lua.newstate();
    const char *s = NULL;
    size_t n = 0;
    int ok = 0, detached;
    if (L) {
        lua.openlibs(L);
        if (lua.loadbuffer(L, t->chunk, t->chunklen, "=socket2.thread") == 0) {
            lua.pushlstring(L, t->arg, t->arglen);
            ok = lua.pcall(L, 1, 1, 0) == 0;
        }
        s = lua.tolstring(L, -1, &n);
    }
    if (!s) {
        s = !L ? "socket2.thread: cannot create a Lua state (out of memory)"
           : ok ? "" : "socket2.thread: error object is not a string";
        n = strlen(s);
    }
    t->res = malloc(n + 1);
    if (t->res) { memcpy(t->res, s, n); t->res[n] = 0; t->reslen = n; }
    else ok = 0;
    if (L) lua.close(L);  /* closes the state's socket2 loop, if any */
    s2_mutex_lock(&mu);
    t->ok = ok;
    t->done = 1;
    if (t->prev) t->prev->next = t->next; else running = t->next;
    if (t->next) t->next->prev = t->prev;
    if (t->notify) {
        s2_event ev;
        ev.id = t->id; ev.gen = t->gen; ev.result = ok; ev.flags = S2_DONE;
        s2__post(t->notify, &ev);
    }
    detached = t->detached;
    s2_mutex_unlock(&mu);
    if (detached) s2__free(t);
}

static char *s2__dup(const char *p, size_t n) {
    char *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

S2_API int32_t s2_thread_start(const char *chunk, int32_t chunklen, const char *arg, int32_t arglen,
                               s2_loop *notify, uint32_t id, uint32_t gen, s2_thread **out) {
    struct s2_thread *t;
    int failed;
    if (!out || !chunk || chunklen < 0 || arglen < 0 || (arglen && !arg) || id > S2_MAX_ID)
        return -S2_EINVAL;
    *out = NULL;
    s2__init();
    if (!inited) return -S2_ENOMEM;
    if (!have_lua) return -S2_ENOSYS;
    if (!(t = calloc(1, sizeof *t))) return -S2_ENOMEM;
    t->chunk = s2__dup(chunk, (size_t)chunklen); t->chunklen = (size_t)chunklen;
    t->arg = s2__dup(arg, (size_t)arglen); t->arglen = (size_t)arglen;
    if (!t->chunk || !t->arg) { s2__free(t); return -S2_ENOMEM; }
    t->notify = notify; t->id = id; t->gen = gen;
    s2_mutex_lock(&mu);
    failed = s2__thrd_create(&t->th, s2__run, t, 0) != 0;
    if (!failed) { t->next = running; if (running) running->prev = t; running = t; }
    s2_mutex_unlock(&mu);
    if (failed) { s2__free(t); return -S2_EAGAIN; }
    *out = t;
    return 0;
}

S2_API int32_t s2_thread_join(s2_thread *t, const char **res, int32_t *reslen) {
    if (!t || !res || !reslen || t->joined) return -S2_EINVAL;
    s2__thrd_join(t->th);
    t->joined = 1;
    *res = t->res ? t->res : "socket2.thread: out of memory";
    *reslen = t->res ? (int32_t)t->reslen : (int32_t)strlen(*res);
    return t->ok;
}

S2_API void s2_thread_free(s2_thread *t) {
    if (!t) return;
    if (!t->joined) {
        s2__thrd_detach(t->th);
        s2_mutex_lock(&mu);
        if (!t->done) {  /* still running: it frees itself when it ends */
            t->detached = 1;
            t->notify = NULL;
            s2_mutex_unlock(&mu);
            return;
        }
        s2_mutex_unlock(&mu);
    }
    s2__free(t);
}

S2_INTERNAL void s2__threads_abandon(s2_loop *loop) {
    struct s2_thread *t;
    s2__init();
    if (!inited) return;
    s2_mutex_lock(&mu);
    for (t = running; t; t = t->next) if (t->notify == loop) t->notify = NULL;
    s2_mutex_unlock(&mu);
}
