/* The learned stage's model: features, scores and the file (model.h says what each is).
 *
 * The file, little-endian throughout:
 *   "GWMODEL\0", u32 version, u32 bits, u32 heads,
 *   per head: name (16 bytes, NUL-padded), f32 bias, f32 scale,
 *   i16 weights[(1 << bits) * heads] (bucket-major, so one bucket's heads share a line),
 *   u64 FNV-1a of every byte before it.
 * Nothing in it depends on the machine that wrote it, so the same training gives the same
 * bytes anywhere. */
#include "screen/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define BUCKET_MIX 0x9E3779B97F4A7C15ull

/* Only the first GW_MODEL_TEXT_MAX bytes of a text are read: a bound on the features a text
 * may have (and so on the scanner's memory), the same in training and scanning. */
#define GW_MODEL_TEXT_MAX (64u << 10)

static const unsigned char MAGIC[8] = "GWMODEL";
#define HEADER_LEN 20u
#define HEAD_LEN (GW_MODEL_NAME_MAX + 8u)

static inline uint64_t fnv(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

static inline int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

uint64_t gw_model_hash(char kind, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = fnv(FNV_OFFSET, (unsigned char)kind);
    for (size_t i = 0; i < n; i++)
        h = fnv(h, s[i]);
    return h;
}

uint32_t gw_model_bucket(uint64_t h, unsigned bits)
{
    return (uint32_t)((h * BUCKET_MIX) >> (64 - bits));
}

/* A word bigram: the first word's hash times a constant, xor the second's; asymmetric, so
 * "a b" and "b a" differ, and one multiplication instead of another pass of FNV. */
static inline uint64_t pair_hash(uint64_t a, uint64_t b)
{
    return (a * 0xff51afd7ed558ccdull) ^ b;
}

void gw_feats_free(struct gw_feats *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

/* ASCII letters lower-cased; '-', '_', '.' and '*' read as spaces (words joined by them,
 * or set in Markdown emphasis, are read as words); every other byte as it is. */
static const unsigned char *lower_table(void)
{
    static unsigned char t[256];
    if (!t['A']) /* built once; the same bytes every time, so a race is harmless */
        for (int c = 0; c < 256; c++)
            t[c] = (unsigned char)(c >= 'A' && c <= 'Z'                     ? c + 32
                                   : c == '-' || c == '_' || c == '.' || c == '*' ? ' '
                                                                                  : c);
    return t;
}

uint32_t gw_model_gram_bucket(uint64_t packed, unsigned n, unsigned bits)
{
    return (uint32_t)(((packed ^ ((uint64_t)n << 56)) * BUCKET_MIX) >> (64 - bits));
}

/* The one pass over the text, resumable: win holds the last five bytes, the newest in
 * bits 32-39, so the n-grams that end at a byte are its top n bytes; a word's FNV-1a grows
 * byte by byte and is emitted (with the bigram it ends) at the first byte that is not a
 * word's, or at the end. Writes the buckets of t[0 .. n) to out (room for 4 n + 2) and
 * returns how many. Reads at most GW_MODEL_TEXT_MAX bytes in all. */
static size_t text_features(struct gw_model_pass *s, unsigned bits, const unsigned char *t,
                            size_t n, bool end, uint32_t *out)
{
    const unsigned char *low = lower_table();
    const uint64_t hw0 = fnv(FNV_OFFSET, 'w');
    if (n > GW_MODEL_TEXT_MAX - s->pos)
        n = GW_MODEL_TEXT_MAX - s->pos;
    size_t k = 0;
    if (s->pos == 0 && !s->in_word)
        s->hw = hw0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = low[t[i]];
        size_t at = s->pos + i;
        s->win = (s->win >> 8) | (uint64_t)c << 32;
        if (at >= 2)
            out[k++] = gw_model_gram_bucket(s->win >> 16, 3, bits);
        if (at >= 3)
            out[k++] = gw_model_gram_bucket(s->win >> 8, 4, bits);
        if (at >= 4)
            out[k++] = gw_model_gram_bucket(s->win, 5, bits);
        if (word_byte((unsigned char)c)) {
            s->hw = fnv(s->hw, (unsigned char)c);
            s->in_word = true;
            continue;
        }
        if (!s->in_word)
            continue;
        out[k++] = gw_model_bucket(s->hw, bits);
        if (s->have_prev)
            out[k++] = gw_model_bucket(pair_hash(s->prev, s->hw), bits);
        s->prev = s->hw;
        s->have_prev = true;
        s->hw = hw0;
        s->in_word = false;
    }
    s->pos += n;
    if (end && s->in_word) {
        out[k++] = gw_model_bucket(s->hw, bits);
        if (s->have_prev)
            out[k++] = gw_model_bucket(pair_hash(s->prev, s->hw), bits);
        s->in_word = false;
    }
    return k;
}

static int reserve(struct gw_feats *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    uint32_t *v = realloc(f->v, need * sizeof *v);
    if (!v)
        return -1;
    f->v = v;
    f->cap = need;
    return 0;
}

int gw_model_features(unsigned bits, const char *text, size_t n, const char *const *rule_ids,
                      size_t n_rules, struct gw_feats *f)
{
    struct gw_model_pass s = {0};
    size_t read = n < GW_MODEL_TEXT_MAX ? n : GW_MODEL_TEXT_MAX;
    if (reserve(f, 4 * read + 2 + n_rules) == -1)
        return -1;
    size_t k = text_features(&s, bits, (const unsigned char *)text, n, true, f->v);
    f->n_text = k;
    for (size_t r = 0; r < n_rules; r++)
        f->v[k++] = gw_model_bucket(gw_model_hash('r', rule_ids[r], strlen(rule_ids[r])), bits);
    f->n = k;
    return 0;
}

/* Adds every head's weight of the buckets v[0 .. n) to sum[]. The table (768 KB shipped)
 * is larger than a core's L2 and the buckets are known ahead, so each load is asked for
 * PREFETCH_AHEAD features before it is read: the loads' latency, not the adds, was the
 * time (5.0 to 4.7 us for the features and score of a 600-byte prompt). */
#define PREFETCH_AHEAD 12
static void add_weights(const struct gw_model *m, const uint32_t *v, size_t n, int64_t *sum)
{
    unsigned H = m->n_heads;
    const int16_t *w = m->w;
    if (H == 2) { /* two heads: one 32-bit load a feature */
        int64_t a = 0, b = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(w + (size_t)v[i + PREFETCH_AHEAD] * 2);
            const int16_t *p = w + (size_t)v[i] * 2;
            a += p[0];
            b += p[1];
        }
        sum[0] += a;
        sum[1] += b;
    } else if (H == 3) {
        for (size_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(w + (size_t)v[i + PREFETCH_AHEAD] * 3);
            const int16_t *p = w + (size_t)v[i] * 3;
            sum[0] += p[0];
            sum[1] += p[1];
            sum[2] += p[2];
        }
    } else {
        for (size_t i = 0; i < n; i++)
            for (unsigned h = 0; h < H; h++)
                sum[h] += w[(size_t)v[i] * H + h];
    }
}

/* Folds the window of the previous and the current half into w's highest and lowest. */
static void win_eval(const struct gw_model *m, struct gw_model_win *w)
{
    double norm = 1.0 / sqrt((double)(w->n_prev + w->in_cur));
    for (unsigned h = 0; h < m->n_heads; h++) {
        double v = (double)(w->prev[h] + w->cur[h]) * norm;
        w->hi[h] = w->any && w->hi[h] > v ? w->hi[h] : v;
        w->lo[h] = w->any && w->lo[h] < v ? w->lo[h] : v;
    }
    w->any = true;
}

/* Adds the weights of the text features v[0 .. n), the next in the text's order, to the
 * whole text's sums and to the windows' (GW_MODEL_HALF). */
static void add_text(const struct gw_model *m, const uint32_t *v, size_t n, int64_t *sum,
                     struct gw_model_win *w)
{
    while (n > 0) {
        size_t take = GW_MODEL_HALF - w->in_cur;
        if (take > n)
            take = n;
        int64_t part[GW_MODEL_HEADS_MAX] = {0};
        add_weights(m, v, take, part);
        for (unsigned h = 0; h < m->n_heads; h++) {
            sum[h] += part[h];
            w->cur[h] += part[h];
        }
        w->in_cur += take;
        v += take;
        n -= take;
        if (w->in_cur == GW_MODEL_HALF) { /* a half is full: its window, then it is the past */
            if (w->n_prev)
                win_eval(m, w);
            memcpy(w->prev, w->cur, sizeof w->prev);
            memset(w->cur, 0, sizeof w->cur);
            w->n_prev = GW_MODEL_HALF;
            w->in_cur = 0;
        }
    }
}

void gw_model_rep_add(struct gw_model_rep *r, const uint32_t *v, size_t n, size_t first)
{
    size_t i = (GW_MODEL_REP_EVERY - first % GW_MODEL_REP_EVERY) % GW_MODEL_REP_EVERY;
    for (; i < n; i += GW_MODEL_REP_EVERY) {
        uint32_t b = v[i] % GW_MODEL_REP_BITS; /* buckets are mixed hashes already */
        uint64_t bit = (uint64_t)1 << (b % 64);
        r->set += (r->bits[b / 64] & bit) == 0;
        r->bits[b / 64] |= bit;
        r->sampled++;
    }
}

double gw_model_rep_factor(const struct gw_model_rep *r)
{
    if (r->sampled < 16)
        return 1.0;
    size_t zeros = GW_MODEL_REP_BITS - r->set;
    if (zeros < GW_MODEL_REP_BITS / 16) /* too many distinct features to tell */
        return 1.0;
    double distinct = -(double)GW_MODEL_REP_BITS * log((double)zeros / GW_MODEL_REP_BITS);
    double f = (double)r->sampled / distinct;
    return f >= GW_MODEL_REP_MIN ? f : 1.0;
}

static float sigmoid(double z)
{
    return (float)(1.0 / (1.0 + exp(-z)));
}

/* The heads' scores of the whole text into whole[], and when w is given, of the whole text
 * or its window that scores highest into best[] (else best[] = whole[]). */
static void finish_score(const struct gw_model *m, size_t n_text, double rep, const int64_t *text,
                         struct gw_model_win *w, const int64_t *rule, float *whole, float *best)
{
    if (n_text < GW_MODEL_MIN_TEXT) { /* too short to judge: the rules' alone */
        for (unsigned h = 0; h < m->n_heads; h++)
            whole[h] = best[h] = 0;
        return;
    }
    if (w && w->in_cur && w->n_prev) /* the last window, of a short last half */
        win_eval(m, w);
    double norm = n_text ? 1.0 / sqrt((double)n_text * rep) : 0.0;
    for (unsigned h = 0; h < m->n_heads; h++) {
        double v = (double)text[h] * norm;
        whole[h] = sigmoid(m->bias[h] + m->scale[h] * (v + (double)rule[h]));
        if (w && w->any) /* the window that raises z most, whatever the sign of the scale */
            v = m->scale[h] >= 0 ? fmax(v, w->hi[h]) : fmin(v, w->lo[h]);
        best[h] = sigmoid(m->bias[h] + m->scale[h] * (v + (double)rule[h]));
    }
}

void gw_model_scores(const struct gw_model *m, const struct gw_feats *f, float *whole,
                     float *best)
{
    int64_t text[GW_MODEL_HEADS_MAX] = {0}, rule[GW_MODEL_HEADS_MAX] = {0};
    struct gw_model_win w = {0};
    float ignored[GW_MODEL_HEADS_MAX];
    if (best)
        add_text(m, f->v, f->n_text, text, &w);
    else
        add_weights(m, f->v, f->n_text, text);
    add_weights(m, f->v + f->n_text, f->n - f->n_text, rule);
    struct gw_model_rep rep;
    memset(&rep, 0, sizeof rep);
    gw_model_rep_add(&rep, f->v, f->n_text, 0);
    finish_score(m, f->n_text, gw_model_rep_factor(&rep), text, best ? &w : NULL, rule, whole,
                 best ? best : ignored);
}

void gw_model_score(const struct gw_model *m, const struct gw_feats *f, bool windows,
                    float *out)
{
    float whole[GW_MODEL_HEADS_MAX];
    gw_model_scores(m, f, windows ? whole : out, windows ? out : NULL);
}

/* ---- a text that comes in pieces (a stream) ---- */

void gw_model_acc_init(struct gw_model_acc *a, const struct gw_model *m)
{
    struct gw_feats buf = a->buf; /* its memory is reused */
    memset(a, 0, sizeof *a);
    a->m = m;
    a->buf = buf;
}

int gw_model_acc_feed(struct gw_model_acc *a, const char *p, size_t n)
{
    /* in slices, so the buffer stays small whatever the piece */
    while (n > 0 && a->pass.pos < GW_MODEL_TEXT_MAX) {
        size_t slice = n < 4096 ? n : 4096;
        if (reserve(&a->buf, 4 * slice + 2) == -1)
            return -1;
        size_t k = text_features(&a->pass, a->m->bits, (const unsigned char *)p, slice, false,
                                 a->buf.v);
        add_weights(a->m, a->buf.v, k, a->text);
        gw_model_rep_add(&a->rep, a->buf.v, k, a->n_text);
        a->n_text += k;
        p += slice;
        n -= slice;
    }
    return 0;
}

int gw_model_acc_score(struct gw_model_acc *a, const char *const *rule_ids, size_t n_rules,
                       float *out)
{
    if (reserve(&a->buf, 2 + n_rules) == -1)
        return -1;
    size_t k = text_features(&a->pass, a->m->bits, NULL, 0, true, a->buf.v);
    add_weights(a->m, a->buf.v, k, a->text);
    gw_model_rep_add(&a->rep, a->buf.v, k, a->n_text);
    a->n_text += k;
    int64_t rule[GW_MODEL_HEADS_MAX] = {0};
    for (size_t r = 0; r < n_rules; r++)
        a->buf.v[r] =
            gw_model_bucket(gw_model_hash('r', rule_ids[r], strlen(rule_ids[r])), a->m->bits);
    add_weights(a->m, a->buf.v, n_rules, rule);
    float same[GW_MODEL_HEADS_MAX];
    finish_score(a->m, a->n_text, gw_model_rep_factor(&a->rep), a->text, NULL, rule, out, same);
    return 0;
}

int gw_model_head(const struct gw_model *m, const char *name)
{
    for (unsigned h = 0; h < m->n_heads; h++)
        if (strcmp(m->name[h], name) == 0)
            return (int)h;
    return -1;
}

void gw_model_free(struct gw_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->path);
    free(m);
}

/* ---- the file ---- */

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = fnv(h, p[i]);
    return h;
}

static size_t file_len(unsigned bits, unsigned heads)
{
    return HEADER_LEN + HEAD_LEN * heads + 2 * ((size_t)1 << bits) * heads + 8;
}

int gw_model_serialise(const struct gw_model *m, unsigned char **out, size_t *len)
{
    size_t n = file_len(m->bits, m->n_heads);
    unsigned char *p = calloc(1, n);
    if (!p)
        return -1;
    memcpy(p, MAGIC, 8);
    put32(p + 8, GW_MODEL_VERSION);
    put32(p + 12, m->bits);
    put32(p + 16, m->n_heads);
    unsigned char *q = p + HEADER_LEN;
    for (unsigned h = 0; h < m->n_heads; h++, q += HEAD_LEN) {
        strncpy((char *)q, m->name[h], GW_MODEL_NAME_MAX - 1);
        put32(q + GW_MODEL_NAME_MAX, float_bits(m->bias[h]));
        put32(q + GW_MODEL_NAME_MAX + 4, float_bits(m->scale[h]));
    }
    size_t nw = ((size_t)1 << m->bits) * m->n_heads;
    for (size_t i = 0; i < nw; i++, q += 2) {
        uint16_t u = (uint16_t)m->w[i];
        q[0] = (unsigned char)u;
        q[1] = (unsigned char)(u >> 8);
    }
    uint64_t c = checksum(p, n - 8);
    put32(q, (uint32_t)c);
    put32(q + 4, (uint32_t)(c >> 32));
    *out = p;
    *len = n;
    return 0;
}

int gw_model_parse(const unsigned char *p, size_t n, const char *name, struct gw_model **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (n < 8 || memcmp(p, MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a guardrail model (bad magic)", name);
        return -1;
    }
    if (n < HEADER_LEN) {
        snprintf(err, errlen, "%s: truncated (%zu bytes, no whole header)", name, n);
        return -1;
    }
    uint32_t version = get32(p + 8), bits = get32(p + 12), heads = get32(p + 16);
    if (version != GW_MODEL_VERSION) {
        snprintf(err, errlen, "%s: model version %u, this guardrail reads version %d", name,
                 version, GW_MODEL_VERSION);
        return -1;
    }
    if (bits < GW_MODEL_BITS_MIN || bits > GW_MODEL_BITS_MAX || heads < 1 ||
        heads > GW_MODEL_HEADS_MAX) {
        snprintf(err, errlen, "%s: bad header (%u bits, %u heads)", name, bits, heads);
        return -1;
    }
    size_t want = file_len(bits, heads);
    if (n != want) {
        snprintf(err, errlen, "%s: %s (%zu bytes, expected %zu)", name,
                 n < want ? "truncated" : "trailing bytes", n, want);
        return -1;
    }
    uint64_t c = checksum(p, n - 8);
    if (get32(p + n - 8) != (uint32_t)c || get32(p + n - 4) != (uint32_t)(c >> 32)) {
        snprintf(err, errlen, "%s: checksum mismatch (the file is corrupt)", name);
        return -1;
    }
    struct gw_model *m = calloc(1, sizeof *m);
    size_t nw = ((size_t)1 << bits) * heads;
    if (!m || !(m->w = malloc(nw * sizeof *m->w))) {
        free(m);
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    m->bits = bits;
    m->n_heads = heads;
    const unsigned char *q = p + HEADER_LEN;
    for (unsigned h = 0; h < heads; h++, q += HEAD_LEN) {
        if (q[0] == 0 || memchr(q, 0, GW_MODEL_NAME_MAX) == NULL) {
            snprintf(err, errlen, "%s: head %u has no name", name, h);
            gw_model_free(m);
            return -1;
        }
        memcpy(m->name[h], q, GW_MODEL_NAME_MAX);
        for (unsigned k = 0; k < h; k++)
            if (strcmp(m->name[k], m->name[h]) == 0) {
                snprintf(err, errlen, "%s: two heads are named '%s'", name, m->name[h]);
                gw_model_free(m);
                return -1;
            }
        m->bias[h] = bits_float(get32(q + GW_MODEL_NAME_MAX));
        m->scale[h] = bits_float(get32(q + GW_MODEL_NAME_MAX + 4));
        if (!isfinite(m->bias[h]) || !isfinite(m->scale[h])) {
            snprintf(err, errlen, "%s: head '%s' has a bias or scale that is not a number",
                     name, m->name[h]);
            gw_model_free(m);
            return -1;
        }
    }
    for (size_t i = 0; i < nw; i++, q += 2)
        m->w[i] = (int16_t)(uint16_t)(q[0] | q[1] << 8);
    *out = m;
    return 0;
}

int gw_model_read(const char *path, struct gw_model **out, char *err, size_t errlen)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd == -1 ? NULL : fdopen(fd, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    /* a device or a pipe could be read forever; nothing past the largest model is one */
    struct stat sb;
    bool regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
    if (!regular || (uint64_t)sb.st_size > file_len(GW_MODEL_BITS_MAX, GW_MODEL_HEADS_MAX)) {
        snprintf(err, errlen, "%s: not a guardrail model (%s)", path,
                 regular ? "larger than any model" : "not a regular file");
        fclose(f);
        return -1;
    }
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *p = malloc(cap);
    while (p && (got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap > ((size_t)64 << 20))
                break; /* far over any valid size: parse reports it */
            unsigned char *q = realloc(p, cap *= 2);
            if (!q)
                free(p);
            p = q;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!p || bad) {
        snprintf(err, errlen, "%s: cannot read%s", path, p ? "" : " (out of memory)");
        free(p);
        return -1;
    }
    int rc = gw_model_parse(p, n, path, out, err, errlen);
    free(p);
    if (rc == 0 && !((*out)->path = strdup(path))) {
        gw_model_free(*out);
        *out = NULL;
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return rc;
}

int gw_model_write(const struct gw_model *m, const char *path)
{
    unsigned char *p;
    size_t n;
    if (gw_model_serialise(m, &p, &n) == -1)
        return -1;
    size_t tl = strlen(path) + 16;
    char *tmp = malloc(tl);
    if (!tmp) {
        free(p);
        return -1;
    }
    snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        int ok = fwrite(p, 1, n, f) == n;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(tmp, path) == 0)
            rc = 0;
        else
            unlink(tmp);
    }
    free(tmp);
    free(p);
    return rc;
}
