/* s2_internal.h -- the contract between the shim's common code and one
 * backend. Exactly one backend file (epoll.c, kqueue.c, iocp.c, io_uring.c)
 * is compiled with common.c; it defines every s2__backend_* function. */
#ifndef S2_INTERNAL_H
#define S2_INTERNAL_H

#include "socket2.h"

#if !defined(_WIN32)
#  define S2_INTERNAL __attribute__((visibility("hidden")))
#else
#  define S2_INTERNAL
#endif

#include "s2_thread.h"

#define S2_BATCH_MAX 1024  /* kernel events harvested per wait, at most */

/* Events posted from other threads (lookups, forwarded events): a
 * mutex-protected array drained by the owner's s2_wait. */
typedef struct s2_inbox {
    s2_mutex  mu;
    s2_atomic pending;     /* nonzero when ev holds something: checked lock-free */
    s2_event *ev;
    int32_t   n, cap;
} s2_inbox;

/* The part of every loop that common.c owns; each backend's struct s2_loop
 * starts with it. */
typedef struct s2_common {
    s2_inbox inbox;
    struct s2_lookup *lookups;  /* pending/done lookups owned by this loop */
    /* Nonzero while the loop runs outside a blocking wait, so that a loop
     * that forwards it events may skip waking it: it drains its inbox at
     * its next s2_wait. A backend that keeps it sets it to 0, then checks
     * inbox.pending, before each blocking wait; forwarders set pending,
     * then read awake: all four with s2_atomic_*_sc, so that one of the two
     * sees the other's store. Left at 0, the loop is always woken. */
    s2_atomic awake;
} s2_common;

#define S2_COMMON(loop) ((s2_common *)(void *)(loop))

/* backend */
S2_INTERNAL extern const char *const s2__backend_name;
S2_INTERNAL extern const uint32_t   s2__backend_caps;
S2_INTERNAL int32_t s2__backend_open(int64_t handle, s2_loop **loop); /* calls s2__common_init */
S2_INTERNAL void    s2__backend_close(s2_loop *loop);                 /* calls s2__common_free */
S2_INTERNAL int64_t s2__backend_handle(s2_loop *loop);
/* Takes one op: 0 or -S2_E*. An accepted op may start at once (epoll,
 * kqueue, IOCP) or only at this loop's next s2_wait (io_uring queues SQEs
 * and submits them together with its wait: one kernel entry per turn of
 * the loop). So s2_submit promises that the op has started by the time the
 * next s2_wait enters the kernel, no sooner; Lua always parks, and so
 * waits, after submitting. CANCEL is the exception (completion backends):
 * when s2_submit returns, the ops it cancels, and any op submitted before
 * it, hold their descriptor by reference, not by number, so Lua may close
 * the descriptor at once (a descriptor opened meanwhile may reuse the
 * number: io_uring enters the kernel for a CANCEL). */
S2_INTERNAL int32_t s2__backend_submit(s2_loop *loop, s2_op *op);
/* Harvests kernel events (and starts queued ops); must not sleep when the
 * inbox is pending. */
S2_INTERNAL int32_t s2__backend_wait(s2_loop *loop, s2_event *ev, int32_t max, int32_t timeout_ms);
S2_INTERNAL int32_t s2__backend_wake(s2_loop *loop);                  /* thread-safe */

/* What a completion backend (caps S2_CAP_COMPLETION: io_uring.c, iocp.c)
 * promises lua/socket2/io_proactor.lua, which is the same for both:
 *   - Every accepted op ends in exactly one event {id, gen, result,
 *     S2_DONE | S2_READ} for RECV, RECVFROM, ACCEPT and POLL S2_READ, or
 *     S2_DONE | S2_WRITE for SEND, SENDTO, CONNECT and POLL S2_WRITE.
 *   - result: bytes moved; ACCEPT: the accepted socket itself, non-blocking,
 *     close-on-exec and ready for every call (the backend creates or fixes
 *     it up as its OS needs: AcceptEx's SO_UPDATE_ACCEPT_CONTEXT); CONNECT
 *     and POLL: 0; or -S2_E*. A RECVFROM whose datagram was cut to fit
 *     adds S2_TRUNC, unless its result already says so (Lua passes
 *     MSG_TRUNC where the OS has it: the result is then the real size).
 *     POLL may add S2_HUP / S2_ERROR; urgent data
 *     counts as readable.
 *   - ACCEPT writes the peer's address to addr and its length to *addrlenp
 *     (room: addrlen); RECVFROM likewise when addr is set. The memory stays
 *     Lua's: the backend writes it only before the op's event.
 *   - flags of RECV/SEND/RECVFROM/SENDTO are the OS's MSG_* bits as Lua has
 *     them (MSG_DONTWAIT never comes).
 *   - CANCEL {id, gen, S2_READ|S2_WRITE} ends the ops of (id, gen) pending
 *     in those directions: each still ends in its own event, with
 *     -S2_ECANCELED, or with its real result when it finished first. CANCEL
 *     makes no event of its own; canceling nothing is no error; fd unused.
 *   - Lua keeps at most one op pending per (id, direction), and the slot's
 *     gen does not change until that op's event came. io_uring refuses a
 *     second op with -S2_EBUSY.
 *   - s2_close cancels what is still pending; no Lua memory is written
 *     after it returns. */

/* common */
S2_INTERNAL int32_t s2__common_init(s2_common *c);
S2_INTERNAL void    s2__common_free(s2_common *c);
S2_INTERNAL int32_t s2__post(s2_loop *loop, const s2_event *ev);      /* thread-safe */
S2_INTERNAL int32_t s2__inbox_append(s2_loop *loop, const s2_event *ev, int32_t n); /* no wake */
S2_INTERNAL int     s2__inbox_pending(s2_loop *loop);
S2_INTERNAL int32_t s2__inbox_drain(s2_loop *loop, s2_event *ev, int32_t max);
S2_INTERNAL void    s2__inbox_remove(s2_loop *loop, uint32_t id, uint32_t gen, uint32_t flags);
S2_INTERNAL void    s2__lookups_abandon(s2_loop *loop);
S2_INTERNAL void    s2__threads_abandon(s2_loop *loop);  /* lthread.c */

/* Loops sharing one kernel object (shared.c). Every loop opened on a handle
 * joins that handle's group and gets an owner index, which the backend puts
 * in each registration (epoll: bits 24..31 of the low word of data, above
 * the 24-bit slot id). Index 0 is the group's first loop: it may keep
 * waiting on the kernel object itself until a second loop joins (then
 * s2__group_shared turns true and it is woken once). An event harvested by
 * a loop that does not own it goes to s2__group_forward, which appends it to
 * the owner's inbox and wakes the owner; events of loops that left are
 * dropped. Indexes of loops that left are reused last (FIFO). */
#define S2_OWNER_SHIFT 24
#define S2_OWNER_TAG   255u  /* owner bits of the backend's own tags, never an index */
#define S2_OWNER_MAX   254u  /* so at most 255 loops share one kernel object */
typedef struct s2_group s2_group;
/* owned: the loop created the handle. s2__group_leave returns 1 when the
 * caller must now close the handle: it was owned and its last loop left
 * (so the loop that created it does not close it under the others). */
S2_INTERNAL int32_t s2__group_join(int64_t handle, s2_loop *l, int owned, s2_group **g, uint32_t *idx);
S2_INTERNAL int     s2__group_leave(s2_group *g, uint32_t idx);
S2_INTERNAL int     s2__group_shared(s2_group *g);  /* lock-free */
/* ev[i].id holds owner << S2_OWNER_SHIFT | id; every owner but self (the
 * caller, awake: it may post to itself) is woken; thread-safe */
S2_INTERNAL void    s2__group_forward(s2_group *g, s2_event *ev, int32_t n, uint32_t self);

#endif
