/* What recording a request costs on each KPI store backend, side by side in one run.
 *
 *   kpi_bench --sqlite FILE --pg URL [--batches N] [--batch-size M] [--seed S]
 *
 * Writes the same batches of request records (a realistic mix: most clean, some with a
 * redacted e-mail, a blocked injection, a cx signal; a few tenants, two models, one
 * conversation per three requests) through gw_store_write to a fresh SQLite file and a
 * PostgreSQL database, alternating backends batch by batch so that both see the same
 * machine noise. Prints per-record medians and totals, and the ratio PostgreSQL/SQLite.
 * The cost is the recorder thread's, not a request's: workers only queue records. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kpi/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static void add_finding(struct gw_request_rec *r, const char *rule, enum gw_category c,
                        enum gw_action a, enum gw_direction d)
{
    struct gw_finding_rec *f = &r->findings[r->n_findings++];
    memset(f, 0, sizeof *f);
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    snprintf(f->title, sizeof f->title, "%s", rule);
    snprintf(f->excerpt, sizeof f->excerpt, "j***@*******.com");
    f->category = c;
    f->action = a;
    f->direction = d;
    f->severity = GW_SEV_HIGH;
    f->value_hash = next();
    f->value_length = 16;
    f->start = 10;
    f->end = 26;
    enum gw_action *v = d == GW_DIR_PROMPT ? &r->prompt_verdict : &r->reply_verdict;
    if (a > *v)
        *v = a;
}

static void make(struct gw_request_rec *r, int64_t ts, long i)
{
    static const char *const tenants[] = {"web-de", "web-fr", "app"};
    memset(r, 0, sizeof *r);
    r->findings = calloc(3, sizeof *r->findings);
    r->ts_ms = ts;
    snprintf(r->request_id, sizeof r->request_id, "req-%ld", i);
    snprintf(r->tenant, sizeof r->tenant, "%s", tenants[next() % 3]);
    snprintf(r->model, sizeof r->model, "%s", next() % 4 ? "gpt-4o" : "gpt-4o-mini");
    snprintf(r->conversation, sizeof r->conversation, "%016lx", (unsigned long)(i / 3));
    r->status = 200;
    r->provider_called = true;
    r->total_ms = 400 + next() % 400;
    r->provider_ms = r->total_ms - 0.3;
    r->gateway_ms = 0.3;
    r->prompt_tokens = 200 + next() % 300;
    r->completion_tokens = 50 + next() % 200;
    uint32_t k = next() % 100;
    if (k < 8)
        add_finding(r, "pii.email", GW_CAT_PII, GW_ACTION_REDACT, GW_DIR_PROMPT);
    else if (k < 11) {
        add_finding(r, "injection.ignore_previous", GW_CAT_INJECTION, GW_ACTION_BLOCK,
                    GW_DIR_PROMPT);
        r->provider_called = false;
        r->provider_ms = 0;
    } else if (k < 14)
        add_finding(r, "cx.human", GW_CAT_CX, GW_ACTION_FLAG, GW_DIR_PROMPT);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *sqlite = NULL, *pg = NULL;
    long batches = 400, size = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sqlite") == 0)
            sqlite = argv[i + 1];
        else if (strcmp(argv[i], "--pg") == 0)
            pg = argv[i + 1];
        else if (strcmp(argv[i], "--batches") == 0)
            batches = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--batch-size") == 0)
            size = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            rng = strtoull(argv[i + 1], NULL, 10) | 1;
    }
    if (!sqlite || !pg || batches < 1 || size < 1) {
        fprintf(stderr, "usage: kpi_bench --sqlite FILE --pg URL [--batches N] "
                        "[--batch-size M] [--seed S]\n");
        return 2;
    }
    char err[512];
    struct gw_store_opts o = {.instance = "bench"};
    struct gw_store *st[2] = {gw_store_open(sqlite, &o, err, sizeof err), NULL};
    if (!st[0] || !(st[1] = gw_store_open(pg, &o, err, sizeof err))) {
        fprintf(stderr, "kpi_bench: %s\n", err);
        return 1;
    }
    const char *names[2] = {"SQLite", "PostgreSQL"};
    double *t[2] = {calloc((size_t)batches, sizeof(double)), calloc((size_t)batches, sizeof(double))};
    double total[2] = {0, 0};
    struct gw_request_rec *recs = calloc((size_t)size, sizeof *recs);
    struct gw_request_rec **ptrs = calloc((size_t)size, sizeof *ptrs);
    int64_t t0 = (int64_t)time(NULL) * 1000 - 3600 * 1000;
    long seq = 0;
    for (long b = 0; b < batches; b++) {
        for (long i = 0; i < size; i++) {
            make(&recs[i], t0 + (b * size + i) * 20, seq++);
            ptrs[i] = &recs[i];
        }
        struct gw_batch_id id = {"bench", b + 1};
        for (int k = 0; k < 2; k++) {
            int which = (int)((b + k) % 2); /* alternate who goes first */
            double s = now_s();
            if (gw_store_write(st[which], ptrs, (size_t)size, &id) != 0) {
                fprintf(stderr, "kpi_bench: %s: %s\n", names[which], gw_store_error(st[which]));
                return 1;
            }
            double dt = now_s() - s;
            t[which][b] = dt / (double)size * 1e6;
            total[which] += dt;
        }
        for (long i = 0; i < size; i++)
            free(recs[i].findings);
    }
    printf("KPI store write cost, %ld batches of %ld records, alternating backends\n", batches,
           size);
    printf("%-11s %14s %14s %14s %12s\n", "backend", "median us/rec", "p90 us/rec",
           "records/s", "total s");
    double med[2];
    for (int k = 0; k < 2; k++) {
        qsort(t[k], (size_t)batches, sizeof(double), cmp);
        med[k] = t[k][batches / 2];
        printf("%-11s %14.1f %14.1f %14.0f %12.2f\n", names[k], med[k],
               t[k][batches * 9 / 10], (double)(batches * size) / total[k], total[k]);
    }
    printf("ratio PostgreSQL/SQLite (median per record): %.2f\n", med[1] / med[0]);
    gw_store_close(st[0]);
    gw_store_close(st[1]);
    free(t[0]);
    free(t[1]);
    free(recs);
    free(ptrs);
    return 0;
}
