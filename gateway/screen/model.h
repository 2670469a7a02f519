/* The learned stage: a linear model (logistic regression) over hashed features of the
 * normalised text, beside the Hyperscan rules, for what phrases cannot say (injection,
 * harmful asks, toxicity). One file holds several heads (one model per category) over one
 * feature space; rules of a pack read a head's score (`head:` and `above:`, rules.h).
 *
 * Features (docs/model.md says the same for people), ASCII letters lower-cased first:
 *   character n-grams of 3, 4 and 5 bytes: the bytes as a little-endian integer (first byte
 *   lowest), its length n in the top byte: g = bytes ^ (n << 56), bucket
 *   (g * 0x9E3779B97F4A7C15) >> (64 - bits), a multiplication a byte of text costs three of;
 *   the others by 64-bit FNV-1a of a kind byte and then the feature's bytes, so that kinds
 *   never share a hash, and h to bucket (h * 0x9E3779B97F4A7C15) >> (64 - bits):
 *   'w' + a word: a run of ASCII letters and digits or bytes >= 0x80;
 *   a word bigram: (h1 * 0xff51afd7ed558ccd) ^ h2 of the two words' hashes, to a bucket
 *   as above;
 *   'r' + a rule id: a rule of the ruleset matched the text (rspamd's weak signals).
 * A text feature's value is 1/sqrt(N), N the text features of the text (so long and short
 * texts score alike), or 1/sqrt(N * R) when the text repeats itself R times (gw_model_rep);
 * a rule feature's is 1. The score of head k is sigmoid(bias_k + sum of value * weight_k).
 *
 * Hot path cost: one pass over the text, three or four loads of one cache line per byte;
 * no allocation past the first text of a size (the scanner keeps nothing else). */
#ifndef GW_SCREEN_MODEL_H
#define GW_SCREEN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_MODEL_VERSION 1
#define GW_MODEL_HEADS_MAX 8
#define GW_MODEL_NAME_MAX 16 /* a head's name, NUL included */
#define GW_MODEL_BITS_MIN 10
#define GW_MODEL_BITS_MAX 22

struct gw_model {
    unsigned bits;    /* buckets = 1 << bits */
    unsigned n_heads;
    char name[GW_MODEL_HEADS_MAX][GW_MODEL_NAME_MAX];
    float bias[GW_MODEL_HEADS_MAX];
    float scale[GW_MODEL_HEADS_MAX]; /* weight = w[bucket * n_heads + head] * scale */
    int16_t *w;
    char *path; /* where it was read from; NULL when built in memory */
};

/* The features of one text: bucket numbers, text features first, then rule features. */
struct gw_feats {
    uint32_t *v;
    size_t n, cap;
    size_t n_text; /* v[0 .. n_text) are text features */
};

/* 64-bit FNV-1a of kind followed by p[0 .. n), and the bucket of a hash. Exposed for the
 * tests, which pin their values so that a model trained here scores the same anywhere. */
uint64_t gw_model_hash(char kind, const void *p, size_t n);
uint32_t gw_model_bucket(uint64_t h, unsigned bits);
/* The bucket of a character n-gram: packed holds its n bytes, the first lowest. */
uint32_t gw_model_gram_bucket(uint64_t packed, unsigned n, unsigned bits);

/* Appends the text features of t[0 .. n) (the normalised text) to f (reset first), then one
 * rule feature per id. Returns 0 or -1 (out of memory). */
int gw_model_features(unsigned bits, const char *t, size_t n, const char *const *rule_ids,
                      size_t n_rules, struct gw_feats *f);
void gw_feats_free(struct gw_feats *f);

/* A long prompt is scored by windows as well as whole: its text features are cut, in order,
 * into halves of GW_MODEL_HALF; each two consecutive halves make a window (the last may be
 * short), normalised by its own count, with all the rule features. A head's score is the
 * highest of the whole text's and its windows', so that ordinary text around an attack does
 * not dilute it. A text of at most two halves is its one window. Replies are scored whole
 * (the heads learned prompts; on replies, windows flag ordinary long answers). */
#define GW_MODEL_HALF 128u

/* A text of fewer text features than this (about six letters: "agent", "no", "ok?") scores
 * 0 with every head: a head's score there is little more than its bias, so the rules alone
 * judge it. */
#define GW_MODEL_MIN_TEXT 24u

/* The window sums of a text being read: the current half, the one before, and each head's
 * highest and lowest window value (sum / sqrt(count)) so far. */
struct gw_model_win {
    size_t in_cur, n_prev;
    int64_t cur[GW_MODEL_HEADS_MAX], prev[GW_MODEL_HEADS_MAX];
    double hi[GW_MODEL_HEADS_MAX], lo[GW_MODEL_HEADS_MAX];
    bool any;
};

/* Scores features with every head: whole[k], the whole text's score, and when best is not
 * NULL, best[k], the highest of the whole text's and its windows' (prompts). In [0, 1].
 * Block rules read best, flag rules whole: windows keep padding from hiding what a head
 * blocks, and do not multiply the flags of long ordinary texts. */
void gw_model_scores(const struct gw_model *m, const struct gw_feats *f, float *whole,
                     float *best);
/* One of them: best when windows, else whole. */
void gw_model_score(const struct gw_model *m, const struct gw_feats *f, bool windows,
                    float *out);

/* Where the one pass over a text stands, so that it can go on with the next piece. */
struct gw_model_pass {
    uint64_t win, hw, prev;
    size_t pos; /* bytes read */
    bool in_word, have_prev;
};

/* A text scored as it comes, piece by piece (a streamed reply): the same features and the
 * same score as gw_model_features and gw_model_score (no windows) give the whole text,
 * without keeping it. Init (its buffer is kept across inits; free it with gw_feats_free(&a->buf)), feed the
 * pieces, then score once with the ids of the rules the text matched. Feed and score
 * return 0 or -1 (out of memory). */
/* How much a text's features repeat (a line pasted twenty times): every GW_MODEL_REP_EVERY-th
 * feature is set in a bitmap of GW_MODEL_REP_BITS, and the distinct ones are counted from its
 * empty bits (linear counting). From GW_MODEL_REP_MIN up, a text's weights are divided by
 * sqrt(n * repeat) rather than sqrt(n): the weights grow with the copies and so does the
 * divisor, so a text said k times scores as it does a few times, where before its score grew
 * with sqrt(k) ("I love your products." forty times was blocked). Training divides alike. */
#define GW_MODEL_REP_EVERY 8u
#define GW_MODEL_REP_BITS 4096u
#define GW_MODEL_REP_MIN 2.0
struct gw_model_rep {
    uint64_t bits[GW_MODEL_REP_BITS / 64];
    size_t sampled, set; /* features sampled, and bits they set */
};
/* Adds the features v[0 .. n), the first of which is the text's first-th. */
void gw_model_rep_add(struct gw_model_rep *r, const uint32_t *v, size_t n, size_t first);
/* How many times a sampled feature came on average, at least 1 (1 when too few were sampled
 * or too many were distinct to tell). */
double gw_model_rep_factor(const struct gw_model_rep *r);

struct gw_model_acc {
    const struct gw_model *m;
    struct gw_model_pass pass;
    struct gw_model_rep rep;
    size_t n_text;
    int64_t text[GW_MODEL_HEADS_MAX];
    struct gw_feats buf;
};
void gw_model_acc_init(struct gw_model_acc *a, const struct gw_model *m);
int gw_model_acc_feed(struct gw_model_acc *a, const char *p, size_t n);
int gw_model_acc_score(struct gw_model_acc *a, const char *const *rule_ids, size_t n_rules,
                       float *out);

/* The head named name, or -1. */
int gw_model_head(const struct gw_model *m, const char *name);

/* Reads a model file. Returns 0 and *out, or -1 with a message in err naming the path
 * ("PATH: truncated ...", "PATH: not a guardrail model", "PATH: version ...", "PATH:
 * checksum ..."). */
int gw_model_read(const char *path, struct gw_model **out, char *err, size_t errlen);
/* Parses a model from memory (the same checks); name is used in messages. */
int gw_model_parse(const unsigned char *p, size_t n, const char *name, struct gw_model **out,
                   char *err, size_t errlen);
/* The file's bytes (little-endian, a checksum last); the caller frees *out. Returns 0/-1. */
int gw_model_serialise(const struct gw_model *m, unsigned char **out, size_t *len);
/* Writes the file through a temporary name, then renames it. Returns 0 or -1 (errno). */
int gw_model_write(const struct gw_model *m, const char *path);
void gw_model_free(struct gw_model *m);

#endif
