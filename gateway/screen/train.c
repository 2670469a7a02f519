/* Training the learned stage: see train.h. Every loop runs in a fixed order and every sum
 * in double, so a run repeats itself exactly; the order of the rows within an epoch is a
 * Fisher-Yates shuffle driven by splitmix64 from the seed. */
#include "screen/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int gw_train_doc_set(struct gw_train_doc *d, const struct gw_feats *f)
{
    memset(d, 0, sizeof *d);
    if (f->n == 0)
        return 0;
    /* text features first, marked by a high bit so that a rule feature in the same bucket
     * keeps its own value until the two are summed */
    uint32_t *tmp = malloc(f->n * sizeof *tmp);
    d->b = malloc(f->n * sizeof *d->b);
    d->x = malloc(f->n * sizeof *d->x);
    if (!tmp || !d->b || !d->x) {
        free(tmp);
        gw_train_doc_free(d);
        return -1;
    }
    memcpy(tmp, f->v, f->n * sizeof *tmp);
    qsort(tmp, f->n_text, sizeof *tmp, cmp_u32);
    qsort(tmp + f->n_text, f->n - f->n_text, sizeof *tmp, cmp_u32);
    /* as the gateway scores a text: weights over sqrt(n * repeat) (model.h) */
    struct gw_model_rep rep;
    memset(&rep, 0, sizeof rep);
    gw_model_rep_add(&rep, f->v, f->n_text, 0);
    float tv = f->n_text ? (float)(1.0 / sqrt((double)f->n_text * gw_model_rep_factor(&rep))) : 0;
    /* merge the two sorted runs, summing equal buckets */
    size_t i = 0, j = f->n_text;
    uint32_t n = 0;
    while (i < f->n_text || j < f->n) {
        bool take_text = j >= f->n || (i < f->n_text && tmp[i] <= tmp[j]);
        uint32_t b = take_text ? tmp[i++] : tmp[j++];
        float v = take_text ? tv : 1.0f;
        if (n > 0 && d->b[n - 1] == b)
            d->x[n - 1] += v;
        else {
            d->b[n] = b;
            d->x[n++] = v;
        }
    }
    free(tmp);
    d->n = n;
    return 0;
}

int gw_train_windows(const struct gw_feats *ft, struct gw_train_doc **out, size_t *n_out)
{
    const size_t H = GW_MODEL_HALF, n_rules = ft->n - ft->n_text;
    *out = NULL;
    *n_out = 0;
    if (ft->n_text <= 2 * H)
        return 0;
    size_t n = (ft->n_text - 1) / H; /* windows k = 0 .. n - 1 */
    uint32_t *v = malloc((2 * H + n_rules) * sizeof *v);
    struct gw_train_doc *win = calloc(n, sizeof *win);
    if (!v || !win) {
        free(v);
        free(win);
        return -1;
    }
    size_t k = 0;
    for (; k < n; k++) {
        size_t from = k * H, to = (k + 2) * H < ft->n_text ? (k + 2) * H : ft->n_text;
        memcpy(v, ft->v + from, (to - from) * sizeof *v);
        memcpy(v + (to - from), ft->v + ft->n_text, n_rules * sizeof *v);
        struct gw_feats w = {.v = v, .n = to - from + n_rules, .n_text = to - from};
        if (gw_train_doc_set(&win[k], &w) == -1)
            break;
    }
    free(v);
    if (k < n) {
        while (k > 0)
            gw_train_doc_free(&win[--k]);
        free(win);
        return -1;
    }
    *out = win;
    *n_out = n;
    return 0;
}

void gw_train_doc_free(struct gw_train_doc *d)
{
    free(d->b);
    free(d->x);
    memset(d, 0, sizeof *d);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_desc_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

/* The score above which share of the n scores lie (sorted in place). */
static float hard_cut(float *sc, size_t n, double share)
{
    qsort(sc, n, sizeof *sc, cmp_desc_f);
    size_t k = (size_t)(share * (double)n);
    return k < n ? sc[k] : sc[n - 1];
}

static double dot(const double *w, double bias, const struct gw_train_doc *d)
{
    double z = bias;
    for (uint32_t j = 0; j < d->n; j++)
        z += w[d->b[j]] * d->x[j];
    return z;
}

float gw_train_score(const double *w, double bias, const struct gw_train_doc *d)
{
    return (float)(1.0 / (1.0 + exp(-dot(w, bias, d))));
}

int gw_train_head(const struct gw_train_doc *docs, size_t n, const signed char *y,
                  const struct gw_train_opts *o, double *w, double *bias)
{
    size_t buckets = (size_t)1 << o->bits;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    double *g2 = calloc(buckets, sizeof *g2);
    if (!order || !g2) {
        free(order);
        free(g2);
        return -1;
    }
    size_t m = 0, pos = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0) {
            order[m++] = i;
            pos += y[i] == 1;
        }
    if (pos == 0 || pos == m) {
        free(order);
        free(g2);
        return -1;
    }
    /* each class weighs as much as the other in all, times pos_weight for positives */
    double wpos = o->pos_weight * (double)m / (2.0 * (double)pos);
    double wneg = (double)m / (2.0 * (double)(m - pos));
    memset(w, 0, buckets * sizeof *w);
    double b = 0, gb2 = 0;
    uint64_t seed = o->seed;
    double *hard = calloc(n ? n : 1, sizeof *hard); /* a negative's extra weight */
    if (!hard) {
        free(order);
        free(g2);
        return -1;
    }
    unsigned total = o->epochs + o->hard_epochs;
    for (unsigned e = 0; e < total; e++) {
        if (e == o->epochs && o->hard_epochs) {
            /* the negatives that score highest now are the ones false blocks are made of:
             * the rest of training weighs them hard_weight times */
            float *sc = malloc(m * sizeof *sc);
            size_t nneg = 0;
            for (size_t r = 0; sc && r < m; r++)
                if (y[order[r]] == 0)
                    sc[nneg++] = (float)dot(w, b, &docs[order[r]]);
            float cut = sc && nneg ? hard_cut(sc, nneg, o->hard_share) : INFINITY;
            for (size_t r = 0; r < m; r++)
                if (y[order[r]] == 0 && dot(w, b, &docs[order[r]]) >= cut)
                    hard[order[r]] = o->hard_weight - 1;
            free(sc);
        }
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
            size_t k = (size_t)(splitmix64(&seed) % i);
            size_t t = order[i - 1];
            order[i - 1] = order[k];
            order[k] = t;
        }
        for (size_t r = 0; r < m; r++) {
            const struct gw_train_doc *d = &docs[order[r]];
            int label = y[order[r]];
            double p = 1.0 / (1.0 + exp(-dot(w, b, d)));
            double g = (p - label) * (label ? wpos : wneg * (1 + hard[order[r]]));
            for (uint32_t j = 0; j < d->n; j++) {
                uint32_t k = d->b[j];
                double gj = g * d->x[j] + o->l2 * w[k];
                g2[k] += gj * gj;
                w[k] -= o->rate * gj / sqrt(g2[k] + 1e-8);
                if (o->nonneg && o->nonneg[k] && w[k] < 0)
                    w[k] = 0;
            }
            gb2 += g * g;
            b -= o->rate * g / sqrt(gb2 + 1e-8);
        }
    }
    *bias = b;
    free(hard);
    free(order);
    free(g2);
    return 0;
}

void gw_train_quantise(struct gw_model *m, unsigned h, const double *w, double bias)
{
    size_t buckets = (size_t)1 << m->bits;
    double top = 0;
    for (size_t i = 0; i < buckets; i++)
        if (fabs(w[i]) > top)
            top = fabs(w[i]);
    double scale = top > 0 ? top / 32767.0 : 1.0;
    for (size_t i = 0; i < buckets; i++)
        m->w[i * m->n_heads + h] = (int16_t)lround(w[i] / scale);
    m->scale[h] = (float)scale;
    m->bias[h] = (float)bias;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

double gw_threshold_printed(float t)
{
    /* no tolerance for t's last bits: t is often one step above a benign row's score
     * (gw_threshold_for_rate), and forgiving that step printed 0.9740 for 0.97400004 */
    return ceil((double)t * 1e4) / 1e4;
}

float gw_threshold_for_rate(const float *neg, size_t n, double rate)
{
    if (n == 0)
        return 1.0f;
    float *s = malloc(n * sizeof *s);
    if (!s)
        return 1.0f;
    memcpy(s, neg, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_desc);
    size_t allowed = (size_t)floor(rate * (double)n + 1e-9);
    float t;
    if (allowed >= n)
        t = s[n - 1] > 0 ? s[n - 1] : nextafterf(0.0f, 1.0f);
    else
        t = nextafterf(s[allowed], 2.0f); /* the first score that must not fire, and up */
    free(s);
    return t > 1.0f ? 1.0f : t;
}

unsigned gw_train_fold(const char *text, size_t len, unsigned k)
{
    return (unsigned)(gw_model_hash('f', text, len) % k);
}
