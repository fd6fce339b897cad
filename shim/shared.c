/* shared.c -- loops of several OS threads sharing one kernel object.
 *
 * A process-global list of groups, one per shared handle, guarded by a
 * mutex that only s2_open and s2_close take. Each group has its own mutex
 * for its member table, taken by loops that forward events they harvested
 * for another loop. A loop that is alone on its handle never takes either
 * on its way through s2_wait. */
#include <stdlib.h>
#include <string.h>
#include "s2_internal.h"

struct s2_group {
    struct s2_group *next;
    int64_t   handle;
    int       owned;              /* close the handle when the last loop leaves */
    s2_atomic shared;             /* a second loop joined, ever */
    s2_mutex  mu;                 /* member[], nmembers, free indexes */
    s2_loop  *member[S2_OWNER_MAX + 1];
    uint32_t  nmembers;
    uint32_t  next_new;           /* indexes never used yet: next_new..S2_OWNER_MAX */
    uint8_t   freeq[S2_OWNER_MAX + 1]; /* indexes given back, oldest first */
    uint32_t  fq_head, fq_n;
};

static s2_mutex reg_mu;
static int reg_ok;
static struct s2_group *groups;

static s2_once reg_once = S2_ONCE_INIT;
static void s2__reg_init_cb(void) { reg_ok = s2_mutex_init(&reg_mu) == 0; }
static void s2__reg_init(void) { s2__once(&reg_once, s2__reg_init_cb); }

/* An index for a joining loop: one never used if any is left, else the one
 * given back longest ago, so that a late event of a loop that left rarely
 * finds a new owner under its old index. */
static int s2__take_index(struct s2_group *g, uint32_t *idx) {
    if (g->next_new <= S2_OWNER_MAX) { *idx = g->next_new++; return 1; }
    if (g->fq_n == 0) return 0;
    *idx = g->freeq[g->fq_head];
    g->fq_head = (g->fq_head + 1) % (S2_OWNER_MAX + 1);
    g->fq_n--;
    return 1;
}

S2_INTERNAL int32_t s2__group_join(int64_t handle, s2_loop *l, int owned,
                                   s2_group **out, uint32_t *idx) {
    struct s2_group *g;
    int32_t rc = 0;
    s2__reg_init();
    if (!reg_ok) return -S2_ENOMEM;
    s2_mutex_lock(&reg_mu);
    for (g = groups; g && g->handle != handle; g = g->next) {}
    if (g && owned) {
        /* we just created this handle, so the one the group knew was closed
         * behind its loops' back and its number reused */
        rc = -S2_EBUSY;
    } else if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) rc = -S2_ENOMEM;
        else if (s2_mutex_init(&g->mu)) { free(g); g = NULL; rc = -S2_ENOMEM; }
        else {
            g->handle = handle;
            g->owned = owned;
            g->member[0] = l;
            g->nmembers = 1;
            g->next_new = 1;
            g->next = groups;
            groups = g;
            *idx = 0;
        }
    } else {
        s2_mutex_lock(&g->mu);
        if (!s2__take_index(g, idx)) rc = -S2_EMFILE;
        else {
            g->member[*idx] = l;
            g->nmembers++;
            if (!s2_atomic_get(&g->shared)) {
                s2_atomic_set(&g->shared, 1);
                /* the first loop may be asleep on the kernel object itself:
                 * wake it so that it moves to a private wait */
                if (g->member[0]) s2__backend_wake(g->member[0]);
            }
        }
        s2_mutex_unlock(&g->mu);
    }
    s2_mutex_unlock(&reg_mu);
    if (rc == 0) *out = g;
    return rc;
}

S2_INTERNAL int s2__group_leave(s2_group *g, uint32_t idx) {
    struct s2_group **pp;
    int last, close_handle = 0;
    s2_mutex_lock(&reg_mu);
    s2_mutex_lock(&g->mu);
    g->member[idx] = NULL;
    g->nmembers--;
    if (idx != 0) {  /* index 0 is never reused: its loop's leftovers just drop */
        g->freeq[(g->fq_head + g->fq_n) % (S2_OWNER_MAX + 1)] = (uint8_t)idx;
        g->fq_n++;
    }
    last = g->nmembers == 0;
    s2_mutex_unlock(&g->mu);
    if (last) {
        for (pp = &groups; *pp != g; pp = &(*pp)->next) {}
        *pp = g->next;
        close_handle = g->owned;
        s2_mutex_free(&g->mu);
        free(g);
    }
    s2_mutex_unlock(&reg_mu);
    return close_handle;
}

S2_INTERNAL int s2__group_shared(s2_group *g) {
    return s2_atomic_get(&g->shared) != 0;
}

S2_INTERNAL void s2__group_forward(s2_group *g, s2_event *ev, int32_t n, uint32_t self) {
    uint32_t woken[(S2_OWNER_MAX + 32) / 32];
    int32_t i = 0, j;
    memset(woken, 0, sizeof woken);
    s2_mutex_lock(&g->mu);
    while (i < n) {
        uint32_t owner = ev[i].id >> S2_OWNER_SHIFT;
        s2_loop *l = owner <= S2_OWNER_MAX ? g->member[owner] : NULL;
        /* a run of events for one owner goes in with one inbox lock */
        for (j = i; j < n && ev[j].id >> S2_OWNER_SHIFT == owner; j++)
            ev[j].id &= S2_MAX_ID;
        if (l && s2__inbox_append(l, ev + i, j - i) == 0 && owner != self)
            woken[owner / 32] |= 1u << (owner % 32);
        i = j;
    }
    /* the appends set pending before we read awake (both _sc): an owner
     * going to sleep clears awake before it checks pending, so one of the
     * two sees the other (an owner that is awake needs no eventfd write) */
    for (i = 0; i < (int32_t)(sizeof woken / sizeof woken[0]); i++)
        for (j = 0; woken[i] >> j; j++) {
            s2_loop *l = g->member[i * 32 + j];
            if ((woken[i] >> j & 1u) && !s2_atomic_get_sc(&S2_COMMON(l)->awake)) s2__backend_wake(l);
        }
    s2_mutex_unlock(&g->mu);
}
