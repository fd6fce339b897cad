/* s2_thread.h -- the threading primitives the shim needs, on POSIX or
 * Win32: mutex, condition, atomic int (inline, below), and once-init,
 * threads and the host process's symbols (thread_posix.c, thread_win.c: the
 * Makefile builds one of them, as it does oserr_posix.c / oserr_win.c).
 * Included through s2_internal.h, which defines S2_INTERNAL. */
#ifndef S2_THREAD_H
#define S2_THREAD_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  include <windows.h>
typedef CRITICAL_SECTION   s2_mutex;
typedef CONDITION_VARIABLE s2_cond;
typedef volatile LONG      s2_atomic;
typedef INIT_ONCE          s2_once;
typedef HANDLE             s2_thrd;
#  define S2_ONCE_INIT        INIT_ONCE_STATIC_INIT
static inline int s2_mutex_init(CRITICAL_SECTION *m) { InitializeCriticalSection(m); return 0; }
#  define s2_mutex_free(m)    DeleteCriticalSection(m)
#  define s2_mutex_lock(m)    EnterCriticalSection(m)
#  define s2_mutex_unlock(m)  LeaveCriticalSection(m)
static inline int s2_cond_init(CONDITION_VARIABLE *c) { InitializeConditionVariable(c); return 0; }
#  define s2_cond_wait(c, m)  SleepConditionVariableCS(c, m, INFINITE)
#  define s2_cond_signal(c)   WakeConditionVariable(c)
#  define s2_atomic_get(a)    InterlockedCompareExchange((a), 0, 0)
#  define s2_atomic_set(a, v) InterlockedExchange((a), (v))
#  define s2_atomic_get_sc(a)    InterlockedCompareExchange((a), 0, 0)  /* full barriers */
#  define s2_atomic_set_sc(a, v) InterlockedExchange((a), (v))
#else
#  include <pthread.h>
typedef pthread_mutex_t s2_mutex;
typedef pthread_cond_t  s2_cond;
typedef int             s2_atomic;
typedef pthread_once_t  s2_once;
typedef pthread_t       s2_thrd;
#  define S2_ONCE_INIT        PTHREAD_ONCE_INIT
#  define s2_mutex_init(m)    pthread_mutex_init((m), NULL)
#  define s2_mutex_free(m)    pthread_mutex_destroy(m)
#  define s2_mutex_lock(m)    pthread_mutex_lock(m)
#  define s2_mutex_unlock(m)  pthread_mutex_unlock(m)
#  define s2_cond_init(c)     pthread_cond_init((c), NULL)
#  define s2_cond_wait(c, m)  pthread_cond_wait((c), (m))
#  define s2_cond_signal(c)   pthread_cond_signal(c)
#  define s2_atomic_get(a)    __atomic_load_n((a), __ATOMIC_ACQUIRE)
#  define s2_atomic_set(a, v) __atomic_store_n((a), (v), __ATOMIC_RELEASE)
/* sequentially consistent: for a store-then-load handshake between threads */
#  define s2_atomic_get_sc(a)    __atomic_load_n((a), __ATOMIC_SEQ_CST)
#  define s2_atomic_set_sc(a, v) __atomic_store_n((a), (v), __ATOMIC_SEQ_CST)
#endif

/* Runs fn exactly once per s2_once (initialised with S2_ONCE_INIT), however
 * many threads call it; every caller returns after fn has. */
S2_INTERNAL void s2__once(s2_once *once, void (*fn)(void));

/* Starts fn(arg) on a new joinable thread; 0 or -S2_E*. stack: the stack
 * size on POSIX (0: the default); Windows keeps the program's default
 * reservation, which it commits only as used. Each thread is joined or
 * detached exactly once. */
S2_INTERNAL int32_t s2__thrd_create(s2_thrd *t, void (*fn)(void *), void *arg, size_t stack);
S2_INTERNAL void    s2__thrd_join(s2_thrd t);
S2_INTERNAL void    s2__thrd_detach(s2_thrd t);

/* Makes the shim library undeletable, so that unloading it (LuaJIT's
 * lua_close unloads ffi.load'ed libraries) never pulls code away from a
 * thread of ours that outlives every loop. Nothing when linked statically. */
S2_INTERNAL void s2__pin_module(void);

/* Where the host process's Lua C API may be: i = 0 the program itself (its
 * global scope), 1 an already loaded LuaJIT library (libluajit-5.1.so.2,
 * lua51.dll). 0 when there is no such place. */
S2_INTERNAL int   s2__host_lib(int i, void **lib);
/* The address of symbol name in lib (from s2__host_lib), or NULL. */
S2_INTERNAL void *s2__host_sym(void *lib, const char *name);

#endif
