/* sys/event.h -- TEST-ONLY stand-in for the BSD kqueue header, so that
 * shim/kqueue.c compiles and runs on Linux over spec/kqemu/kqemu.c (a
 * kqueue emulation on epoll). It is not the real header and it is never
 * installed.
 *
 * Layout: FreeBSD 12+ by default; -DKQEMU_LAYOUT_MACOS gives macOS's.
 * The values below are checked against Debian's librust-libc-dev
 * (src/unix/bsd/{freebsdlike/freebsd,apple}/mod.rs) by
 * spec/unit/os_bsd_spec.lua; keep the one #ifdef block below flat, that
 * spec reads it. Only what the emulation implements is declared. */
#ifndef KQEMU_SYS_EVENT_H
#define KQEMU_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

#ifdef KQEMU_LAYOUT_MACOS
struct kevent {
    uintptr_t ident;    /* the fd, or the EVFILT_USER ident */
    int16_t   filter;
    uint16_t  flags;
    uint32_t  fflags;
    intptr_t  data;
    void     *udata;    /* returned as given */
};
#define EVFILT_USER (-10)
#define KQEMU_SET_EXT(kevp)
#else
struct kevent {
    uintptr_t ident;
    short     filter;
    unsigned short flags;
    unsigned int   fflags;
    int64_t   data;
    void     *udata;
    uint64_t  ext[4];
};
#define EVFILT_USER (-11)
#define KQEMU_SET_EXT(kevp) \
    ((kevp)->ext[0] = 0, (kevp)->ext[1] = 0, (kevp)->ext[2] = 0, (kevp)->ext[3] = 0)
#endif

#define EVFILT_READ  (-1)
#define EVFILT_WRITE (-2)

/* flags */
#define EV_ADD      0x0001
#define EV_DELETE   0x0002
#define EV_ENABLE   0x0004
#define EV_DISABLE  0x0008
#define EV_ONESHOT  0x0010
#define EV_CLEAR    0x0020
#define EV_RECEIPT  0x0040
#define EV_DISPATCH 0x0080
#define EV_ERROR    0x4000
#define EV_EOF      0x8000

/* EVFILT_USER fflags */
#define NOTE_FFNOP      0x00000000u
#define NOTE_FFAND      0x40000000u
#define NOTE_FFOR       0x80000000u
#define NOTE_FFCOPY     0xc0000000u
#define NOTE_FFCTRLMASK 0xc0000000u
#define NOTE_FFLAGSMASK 0x00ffffffu
#define NOTE_TRIGGER    0x01000000u

#define EV_SET(kevp, a, b, c, d, e, f) do {                    \
        struct kevent *kqemu_kev_ = (kevp);                    \
        kqemu_kev_->ident = (a);                               \
        kqemu_kev_->filter = (b);                              \
        kqemu_kev_->flags = (c);                               \
        kqemu_kev_->fflags = (d);                              \
        kqemu_kev_->data = (e);                                \
        kqemu_kev_->udata = (f);                               \
        KQEMU_SET_EXT(kqemu_kev_);                             \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout);

#endif
