/* kpi/spool.h: batches into the store, held and retried while it is away. */
#include "kpi/spool.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kpi/db.h"
#include "util/log.h"

#define HOUR_MS 3600000LL
/* A batch that fails this many times while the database answers is dropped: something in
 * it the store cannot take must not hold back everything after it. */
#define MAX_ATTEMPTS 5

struct held {
    struct gw_batch_id id;
    struct gw_request_rec **recs; /* owned copies */
    size_t n;
    int attempts;
};

struct gw_spool {
    char *where;
    char safe[256]; /* where, without a password, for the log */
    struct gw_store_opts so;
    char instance[GW_STORE_INSTANCE_MAX + 1];
    struct gw_store *store; /* NULL while the database is away */
    size_t max_records;
    int64_t retry_ms, next_try_ms, last_prune_ms, last_log_ms, last_drop_log_ms;
    uint64_t boot;      /* batch ids: this process's random id, and a number */
    int64_t seq;
    struct held *held;  /* oldest first */
    size_t n_held, cap_held, held_records;
    bool away; /* logged as away, not yet as back */
};

static atomic_bool stat_up;
static atomic_int_fast64_t stat_buffered, stat_written, stat_dropped, stat_failures;

void gw_spool_stats(struct gw_spool_stats *out)
{
    out->up = atomic_load(&stat_up);
    out->buffered = atomic_load(&stat_buffered);
    out->written = atomic_load(&stat_written);
    out->dropped = atomic_load(&stat_dropped);
    out->failures = atomic_load(&stat_failures);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct gw_request_rec *rec_dup(const struct gw_request_rec *r)
{
    struct gw_request_rec *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *r;
    c->findings = NULL;
    if (r->n_findings) {
        if (!(c->findings = malloc(r->n_findings * sizeof *c->findings))) {
            free(c);
            return NULL;
        }
        memcpy(c->findings, r->findings, r->n_findings * sizeof *c->findings);
    }
    return c;
}

static void held_free(struct held *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->recs[i]->findings);
        free(h->recs[i]);
    }
    free(h->recs);
}

/* Opens the store when it is not open; 0 when open. Logs a failure at most once a
 * minute. */
static int ensure_open(struct gw_spool *sp)
{
    if (sp->store && !gw_store_broken(sp->store))
        return 0;
    gw_store_close(sp->store);
    char err[512];
    sp->store = gw_store_open(sp->where, &sp->so, err, sizeof err);
    if (sp->store)
        return 0;
    int64_t now = now_ms();
    if (now - sp->last_log_ms >= 60000) {
        GW_LOG(GW_LOG_ERROR, NULL, "KPI store: %s (holding %zu records; retrying)", err,
               sp->held_records);
        sp->last_log_ms = now;
    }
    return -1;
}

/* Drops the oldest records held until at most max are: from the front of the oldest
 * batches, so the newest max are kept. A batch keeps its id: it was never written (or, if
 * an earlier try's COMMIT did go through unanswered, the id makes the retry a no-op). */
static void trim(struct gw_spool *sp)
{
    size_t over = sp->held_records > sp->max_records ? sp->held_records - sp->max_records : 0;
    if (!over)
        return;
    size_t dropped = over;
    while (over && sp->n_held) {
        struct held *h = &sp->held[0];
        if (h->n <= over) {
            over -= h->n;
            sp->held_records -= h->n;
            held_free(h);
            memmove(sp->held, sp->held + 1, (sp->n_held - 1) * sizeof *sp->held);
            sp->n_held--;
            continue;
        }
        for (size_t i = 0; i < over; i++) {
            free(h->recs[i]->findings);
            free(h->recs[i]);
        }
        memmove(h->recs, h->recs + over, (h->n - over) * sizeof *h->recs);
        h->n -= over;
        sp->held_records -= over;
        over = 0;
    }
    atomic_fetch_add(&stat_dropped, (int_fast64_t)dropped);
    int64_t now = now_ms();
    if (now - sp->last_drop_log_ms >= 1000) { /* once a second at most */
        GW_LOG(GW_LOG_ERROR, NULL, "KPI store: dropped the oldest %zu held records "
               "(kpi.buffer_records, %zu, is full)", dropped, sp->max_records);
        sp->last_drop_log_ms = now;
    }
}

/* Writes one batch: 0 written (or written before), -1 not. */
static int write_batch(struct gw_spool *sp, struct gw_request_rec *const *recs, size_t n,
                       const struct gw_batch_id *id)
{
    if (ensure_open(sp) == -1) {
        atomic_store(&stat_up, false);
        return -1;
    }
    if (gw_store_write(sp->store, recs, n, id) == -1) {
        atomic_fetch_add(&stat_failures, 1);
        atomic_store(&stat_up, false);
        if (!sp->away)
            GW_LOG(GW_LOG_ERROR, NULL, "KPI store %s: %s", sp->safe, gw_store_error(sp->store));
        if (gw_store_broken(sp->store)) { /* reconnect at the next try */
            gw_store_close(sp->store);
            sp->store = NULL;
        }
        return -1;
    }
    atomic_store(&stat_up, true);
    atomic_fetch_add(&stat_written, (int_fast64_t)n);
    return 0;
}

/* Holds a batch that was not written, under its id. -1 when it could not be kept. */
static int hold(struct gw_spool *sp, struct gw_request_rec *const *recs, size_t n,
                const struct gw_batch_id *id)
{
    if (sp->max_records == 0)
        goto drop;
    if (sp->n_held == sp->cap_held) {
        size_t cap = sp->cap_held ? sp->cap_held * 2 : 16;
        struct held *t = realloc(sp->held, cap * sizeof *t);
        if (!t)
            goto drop;
        sp->held = t;
        sp->cap_held = cap;
    }
    struct held *h = &sp->held[sp->n_held];
    memset(h, 0, sizeof *h);
    h->id = *id;
    if (n && !(h->recs = calloc(n, sizeof *h->recs)))
        goto drop;
    for (size_t i = 0; i < n; i++)
        if (recs[i] && !(h->recs[h->n++] = rec_dup(recs[i]))) {
            held_free(h);
            goto drop;
        }
    sp->n_held++;
    sp->held_records += h->n;
    if (!sp->away) {
        sp->away = true;
        GW_LOG(GW_LOG_WARN, NULL, "KPI store %s is away: holding records (at most %zu) and "
               "retrying", sp->safe, sp->max_records);
    }
    trim(sp);
    return 0;
drop:
    atomic_fetch_add(&stat_dropped, (int_fast64_t)n);
    return -1;
}

/* The oldest held batch, refused MAX_ATTEMPTS times while the database answered: its
 * records are written one at a time, without a batch id (a lost answer now could count
 * one record twice: rare, and better than losing the batch), and those refused dropped. */
static void one_by_one(struct gw_spool *sp)
{
    struct held *h = &sp->held[0];
    size_t refused = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!sp->store || gw_store_write(sp->store, &h->recs[i], 1, NULL) == -1)
            refused++;
        else
            atomic_fetch_add(&stat_written, 1);
    atomic_fetch_add(&stat_dropped, (int_fast64_t)refused);
    if (refused)
        GW_LOG(GW_LOG_ERROR, NULL, "KPI store %s refused %zu of %zu records: %s", sp->safe,
               refused, h->n, gw_store_error(sp->store));
    sp->held_records -= h->n;
    held_free(h);
    memmove(sp->held, sp->held + 1, (sp->n_held - 1) * sizeof *sp->held);
    sp->n_held--;
    if (!sp->n_held)
        sp->away = false; /* nothing held: the next outage is logged afresh */
}

/* Writes what is held, oldest first, until one fails. */
static void drain(struct gw_spool *sp)
{
    size_t wrote = 0;
    while (sp->n_held) {
        struct held *h = &sp->held[0];
        if (write_batch(sp, h->recs, h->n, &h->id) == -1) {
            /* the database answered and still refused: something in this batch is the
             * trouble; write its records one by one and drop only what is refused */
            if (sp->store && ++h->attempts >= MAX_ATTEMPTS)
                one_by_one(sp);
            return;
        }
        wrote += h->n;
        sp->held_records -= h->n;
        held_free(h);
        memmove(sp->held, sp->held + 1, (sp->n_held - 1) * sizeof *sp->held);
        sp->n_held--;
    }
    if (sp->away) {
        sp->away = false;
        GW_LOG(GW_LOG_INFO, NULL, "KPI store %s is back: wrote %zu held records", sp->safe,
               wrote);
    }
}

int gw_spool_push(struct gw_spool *sp, struct gw_request_rec *const *recs, size_t n)
{
    int64_t now = now_ms();
    int64_t dropped_before = atomic_load(&stat_dropped);
    if (n) {
        struct gw_batch_id id = {.seq = ++sp->seq};
        snprintf(id.boot, sizeof id.boot, "%016" PRIx64, sp->boot);
        if (sp->n_held || write_batch(sp, recs, n, &id) == -1) {
            hold(sp, recs, n, &id);
            if (sp->next_try_ms < now)
                sp->next_try_ms = now + sp->retry_ms;
        }
    }
    if (sp->n_held && now >= sp->next_try_ms) {
        drain(sp);
        sp->next_try_ms = now + sp->retry_ms;
    } else if (!sp->n_held && !atomic_load(&stat_up) && now >= sp->next_try_ms) {
        /* nothing to write (all of it was dropped, or no buffer): is the store back? */
        if (ensure_open(sp) == 0) {
            atomic_store(&stat_up, true);
            if (sp->away) {
                sp->away = false;
                GW_LOG(GW_LOG_INFO, NULL, "KPI store %s is back", sp->safe);
            }
        }
        sp->next_try_ms = now + sp->retry_ms;
    }
    atomic_store(&stat_buffered, (int_fast64_t)sp->held_records);
    if (sp->store && now - sp->last_prune_ms > HOUR_MS) {
        if (gw_store_prune(sp->store, now) == -1)
            GW_LOG(GW_LOG_ERROR, NULL, "KPI store: pruning: %s", gw_store_error(sp->store));
        sp->last_prune_ms = now;
    }
    if (atomic_load(&stat_dropped) != dropped_before)
        return -1;
    return sp->n_held ? 1 : 0;
}

struct gw_spool *gw_spool_new(const struct gw_spool_opts *o, char *err, size_t errlen)
{
    if (!gw_db_url_ok(o->where, err, errlen)) /* a mistake in the config, not an outage */
        return NULL;
    struct gw_spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->where = strdup(o->where))) {
        free(sp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    gw_db_safe_name(o->where, sp->safe, sizeof sp->safe);
    sp->so = o->store;
    sp->so.readonly = false;
    snprintf(sp->instance, sizeof sp->instance, "%s", o->store.instance ? o->store.instance : "");
    sp->so.instance = sp->instance;
    sp->max_records = o->max_records;
    sp->retry_ms = o->retry_ms > 0 ? o->retry_ms : 1000;
    if (getrandom(&sp->boot, sizeof sp->boot, 0) != sizeof sp->boot)
        sp->boot = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)sp;
    sp->last_prune_ms = 0;
    sp->store = gw_store_open(sp->where, &sp->so, err, errlen);
    if (!sp->store) {
        if (!gw_db_is_url(sp->where)) {
            free(sp->where);
            free(sp);
            return NULL;
        }
        GW_LOG(GW_LOG_WARN, NULL, "KPI store: %s (the gateway serves; records are held and "
               "written when it answers)", err);
        sp->last_log_ms = now_ms();
    }
    atomic_store(&stat_up, sp->store != NULL);
    return sp;
}

void gw_spool_free(struct gw_spool *sp)
{
    if (!sp)
        return;
    if (sp->n_held)
        drain(sp);
    if (sp->held_records) {
        GW_LOG(GW_LOG_ERROR, NULL, "KPI store %s: %zu held records were not written", sp->safe,
               sp->held_records);
        atomic_fetch_add(&stat_dropped, (int_fast64_t)sp->held_records);
    }
    for (size_t i = 0; i < sp->n_held; i++)
        held_free(&sp->held[i]);
    free(sp->held);
    atomic_store(&stat_buffered, 0);
    gw_store_close(sp->store);
    free(sp->where);
    free(sp);
}
