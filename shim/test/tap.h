/* tap.h -- the one TAP harness of socket2's C test programs (test_*.c here,
 * spec/kqemu/test_kqemu.c), header-only: each program is one translation
 * unit that includes it once.
 *
 *   CHECK(cond, name)            one test: "ok N - name" or "not ok N - name"
 *   CHECK_EQ(got, want, name)    ... printing both values (and -S2_E* names)
 *   CHECK_STR(got, want, name)   ... for strings
 *   check(ok, name, file, line)  what they call; returns ok
 *   skip(name, why)              a test that cannot run here: "ok N - name # SKIP why"
 *   diag(fmt, ...)               a "#" comment line
 *   bail(why)                    "Bail out!" and exit 1 (with errno / WSA error)
 *   plan(n)                      optional: the plan first; else done_testing prints it
 *   done_testing()               the plan line and the exit status for main
 *   tap_prefix = "[x] "          put before every test name
 *   watchdog(seconds)            a hang becomes "Bail out!"
 *   now_ms()                     a monotonic clock in milliseconds
 * With socket2.h included first, also the shim helpers: open_on(handle),
 * open_loop(), mkop(), submit_op(), submit1(), wait_for(). On POSIX also:
 * make_pair(), put(), count_fds(), fd_is(), under_valgrind(), raise_nofile().
 * Everything OS-specific sits behind the one #if below. */
#ifndef S2_TAP_H
#define S2_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#  define WIN32_LEAN_AND_MEAN
#  include <winsock2.h>
#  include <windows.h>
#else
#  include <dirent.h>
#  include <signal.h>
#  include <time.h>
#  include <unistd.h>
#  include <sys/resource.h>
#  include <sys/socket.h>
#endif

#if defined(__GNUC__)
#  define TAP_UNUSED __attribute__((unused))
#else
#  define TAP_UNUSED
#endif

static int tap_n, tap_failed, tap_planned;
static const char *tap_prefix = "";  /* put before every test name */

static TAP_UNUSED int check(int ok, const char *name, const char *file, int line) {
    printf("%s %d - %s%s\n", ok ? "ok" : "not ok", ++tap_n, tap_prefix, name);
    if (!ok) {
        printf("#   failed at %s:%d\n", file, line);
        tap_failed++;
    }
    fflush(stdout);  /* keep order with forked children and crashes */
    return ok;
}

static TAP_UNUSED void diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("#   ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static TAP_UNUSED void skip(const char *name, const char *why) {
    printf("ok %d - %s%s # SKIP %s\n", ++tap_n, tap_prefix, name, why);
    fflush(stdout);
}

static TAP_UNUSED void plan(int n) {
    printf("1..%d\n", n);
    tap_planned = n;
}

/* The end of main: return done_testing(); */
static TAP_UNUSED int done_testing(void) {
    if (!tap_planned) printf("1..%d\n", tap_n);
    else if (tap_planned != tap_n) printf("# planned %d tests but ran %d\n", tap_planned, tap_n);
    if (tap_failed) printf("# %d of %d checks failed\n", tap_failed, tap_n);
    fflush(stdout);
    return tap_failed || (tap_planned && tap_planned != tap_n) ? 1 : 0;
}

#define CHECK(cond, name) check(!!(cond), (name), __FILE__, __LINE__)

/* a -S2_E* code's name, when the program has the shim's ABI */
#if defined(SOCKET2_H)
#  define TAP_CODE_NAME(v) ((v) < 0 && (v) > -S2_E_COUNT ? s2_errname((int32_t)(v)) : "")
#else
#  define TAP_CODE_NAME(v) ((void)(v), "")
#endif

#define CHECK_EQ(got, want, name) do {                                            \
        long long g_ = (long long)(got), w_ = (long long)(want);                 \
        if (!CHECK(g_ == w_, name))                                              \
            diag("got %lld %s, want %lld %s (%s, %s)", g_, TAP_CODE_NAME(g_),    \
                 w_, TAP_CODE_NAME(w_), #got, #want);                            \
    } while (0)

#define CHECK_STR(got, want, name) do {                                           \
        const char *g_ = (got), *w_ = (want);                                    \
        if (!CHECK(g_ && w_ && strcmp(g_, w_) == 0, name))                       \
            diag("got \"%s\", want \"%s\" (%s)", g_ ? g_ : "(null)",             \
                 w_ ? w_ : "(null)", #got);                                      \
    } while (0)

/* ---- the platform ------------------------------------------------------- */

#if defined(_WIN32)

static TAP_UNUSED void bail(const char *why) {
    printf("Bail out! %s (WSA %d)\n", why, WSAGetLastError());
    fflush(stdout);
    exit(1);
}

static TAP_UNUSED double now_ms(void) {
    LARGE_INTEGER f, t;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart * 1e3 / (double)f.QuadPart;
}

static TAP_UNUSED DWORD WINAPI tap__watchdog(LPVOID p) {
    Sleep((DWORD)(uintptr_t)p * 1000);
    printf("Bail out! watchdog: a test hung\n");
    fflush(stdout);
    ExitProcess(1);
    return 0;
}

static TAP_UNUSED void watchdog(int seconds) {
    HANDLE h = CreateThread(NULL, 0, tap__watchdog, (LPVOID)(uintptr_t)seconds, 0, NULL);
    if (h) CloseHandle(h);
}

#else

static TAP_UNUSED void bail(const char *why) {
    printf("Bail out! %s (errno %d)\n", why, errno);
    fflush(stdout);
    exit(1);
}

static TAP_UNUSED double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static TAP_UNUSED void tap__on_alarm(int sig) {
    static const char msg[] = "Bail out! watchdog: a test hung\n";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

static TAP_UNUSED void watchdog(int seconds) {
    signal(SIGALRM, tap__on_alarm);
    alarm((unsigned)seconds);
}

/* a connected, non-blocking unix stream pair */
static TAP_UNUSED void make_pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) bail("socketpair");
}

static TAP_UNUSED void put(int fd, const char *s) {
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) bail("write");
}

/* open descriptors of this process (Linux: /proc/self/fd) */
static TAP_UNUSED int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) bail("opendir /proc/self/fd");
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* does descriptor fd link to what ("anon_inode:[eventpoll]"; Linux /proc) */
static TAP_UNUSED int fd_is(int64_t fd, const char *what) {
    char path[64], buf[64];
    ssize_t n;
    snprintf(path, sizeof path, "/proc/self/fd/%lld", (long long)fd);
    n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) return 0;
    buf[n] = 0;
    return strcmp(buf, what) == 0;
}

static TAP_UNUSED int under_valgrind(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

/* at least n descriptors, when the hard limit allows */
static TAP_UNUSED void raise_nofile(unsigned n) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n) {
        rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

#endif

/* ---- the shim ----------------------------------------------------------- */

#if defined(SOCKET2_H)

/* a loop on handle (-1: a new kernel object), or bail */
static TAP_UNUSED s2_loop *open_on(int64_t handle) {
    s2_loop *l = NULL;
    int32_t rc = s2_open(handle, &l);
    if (rc != 0 || !l) { diag("s2_open(%lld): %s", (long long)handle, s2_errname(rc)); bail("s2_open"); }
    return l;
}

static TAP_UNUSED s2_loop *open_loop(void) { return open_on(-1); }

/* an op with every other field 0, and a result that must be overwritten */
static TAP_UNUSED s2_op mkop(uint32_t op, int64_t fd, uint32_t id, uint32_t gen) {
    s2_op o;
    memset(&o, 0, sizeof o);
    o.op = op; o.fd = fd; o.id = id; o.gen = gen;
    o.result = 12345;
    return o;
}

/* one op: its result (0 accepted, -S2_E* refused), or s2_submit's error */
static TAP_UNUSED int32_t submit_op(s2_loop *l, s2_op o) {
    int32_t n = s2_submit(l, &o, 1);
    return n < 0 ? n : o.result;
}

/* one op on both directions (WATCH, UNWATCH, CANCEL on a reactor) */
static TAP_UNUSED int32_t submit1(s2_loop *l, uint32_t op, int64_t fd, uint32_t id, uint32_t gen) {
    s2_op o = mkop(op, fd, id, gen);
    o.flags = S2_READ | S2_WRITE;
    return submit_op(l, o);
}

/* Waits up to timeout_ms for an event with this id; events of other ids
 * are dropped. 1 and *out filled if it came. */
static TAP_UNUSED int wait_for(s2_loop *l, uint32_t id, int timeout_ms, s2_event *out) {
    double end = now_ms() + timeout_ms;
    s2_event ev[64];
    for (;;) {
        int i, n, left = (int)(end - now_ms());
        if (left < 0) left = 0;
        n = s2_wait(l, ev, 64, left);
        for (i = 0; i < n; i++)
            if (ev[i].id == id) { *out = ev[i]; return 1; }
        if (n < 0 || left == 0) return 0;
    }
}

#endif

#endif
