/* s2_thread.h -- the few threading primitives the shim needs (mutex,
 * condition, detached thread, atomic int), on POSIX or Win32. */
#ifndef S2_THREAD_H
#define S2_THREAD_H

#if defined(_WIN32)
#  include <windows.h>
typedef CRITICAL_SECTION   s2_mutex;
typedef CONDITION_VARIABLE s2_cond;
typedef volatile LONG      s2_atomic;
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

/* Starts fn(arg) on a detached thread; 0 or -S2_E*. */
#if !defined(_WIN32)
__attribute__((visibility("hidden")))
#endif
int s2__thread_start(void (*fn)(void *), void *arg);

#endif
