/* thread_win.c -- s2_thread.h on Windows (Win32 threads, INIT_ONCE, module
 * handles). POSIX systems use thread_posix.c. */
#include <stdlib.h>
#include "s2_internal.h"

static BOOL CALLBACK s2__once_cb(PINIT_ONCE o, PVOID fn, PVOID *c) {
    (void)o; (void)c;
    ((void (*)(void))(uintptr_t)fn)();
    return TRUE;
}

S2_INTERNAL void s2__once(s2_once *once, void (*fn)(void)) {
    InitOnceExecuteOnce(once, s2__once_cb, (PVOID)(uintptr_t)fn, NULL);
}

typedef struct { void (*fn)(void *); void *arg; } s2__tstart;

static DWORD WINAPI s2__thrd_main(LPVOID p) {
    s2__tstart t = *(s2__tstart *)p;
    free(p);
    t.fn(t.arg);
    return 0;
}

S2_INTERNAL int32_t s2__thrd_create(s2_thrd *t, void (*fn)(void *), void *arg, size_t stack) {
    s2__tstart *ts = malloc(sizeof *ts);
    if (!ts) return -S2_ENOMEM;
    (void)stack;  /* the executable's default reservation, which commits lazily */
    ts->fn = fn; ts->arg = arg;
    *t = CreateThread(NULL, 0, s2__thrd_main, ts, 0, NULL);
    if (!*t) { free(ts); return -S2_EAGAIN; }
    return 0;
}

S2_INTERNAL void s2__thrd_join(s2_thrd t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}

S2_INTERNAL void s2__thrd_detach(s2_thrd t) { CloseHandle(t); }

S2_INTERNAL void s2__pin_module(void) {
    HMODULE self;
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                       (LPCWSTR)(void *)s2__thrd_main, &self);
}

/* the program itself, else a lua51.dll it loaded */
S2_INTERNAL int s2__host_lib(int i, void **lib) {
    *lib = i == 0 ? (void *)GetModuleHandleW(NULL) : i == 1 ? (void *)GetModuleHandleA("lua51.dll") : NULL;
    return *lib != NULL;
}

S2_INTERNAL void *s2__host_sym(void *lib, const char *name) {
    return lib ? (void *)(uintptr_t)GetProcAddress((HMODULE)lib, name) : NULL;
}
