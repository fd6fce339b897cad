/* thread_posix.c -- s2_thread.h on POSIX (pthreads, dlfcn). Windows has
 * its own in thread_win.c. */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE  /* dladdr, RTLD_DEFAULT */
#endif
#include <stdlib.h>
#include <dlfcn.h>
#include "s2_internal.h"

S2_INTERNAL void s2__once(s2_once *once, void (*fn)(void)) { pthread_once(once, fn); }

typedef struct { void (*fn)(void *); void *arg; } s2__tstart;

static void *s2__thrd_main(void *p) {
    s2__tstart t = *(s2__tstart *)p;
    free(p);
    t.fn(t.arg);
    return NULL;
}

S2_INTERNAL int32_t s2__thrd_create(s2_thrd *t, void (*fn)(void *), void *arg, size_t stack) {
    pthread_attr_t attr;
    int rc;
    s2__tstart *ts = malloc(sizeof *ts);
    if (!ts) return -S2_ENOMEM;
    ts->fn = fn; ts->arg = arg;
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    rc = pthread_create(t, &attr, s2__thrd_main, ts);
    pthread_attr_destroy(&attr);
    if (rc) { free(ts); return -S2_EAGAIN; }
    return 0;
}

S2_INTERNAL void s2__thrd_join(s2_thrd t) { pthread_join(t, NULL); }
S2_INTERNAL void s2__thrd_detach(s2_thrd t) { pthread_detach(t); }

S2_INTERNAL void s2__pin_module(void) {
    /* NOLOAD: only promotes the library that holds this code (nothing when
     * the shim is linked into the program) */
    Dl_info self;
    if (dladdr((void *)s2__thrd_main, &self) && self.dli_fname)
        dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* the process's global scope is RTLD_DEFAULT (NULL); a libluajit that is
 * loaded, but locally, is found by name */
S2_INTERNAL int s2__host_lib(int i, void **lib) {
    if (i == 0) { *lib = RTLD_DEFAULT; return 1; }
    *lib = i == 1 ? dlopen("libluajit-5.1.so.2", RTLD_NOW | RTLD_NOLOAD) : NULL;
    return *lib != NULL;
}

S2_INTERNAL void *s2__host_sym(void *lib, const char *name) { return dlsym(lib, name); }
