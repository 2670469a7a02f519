/* Training the learned stage (model.h): logistic regression, one head at a time, by
 * Adagrad with L2, in a fixed order drawn from a fixed seed, so that the same rows give the
 * same model file byte for byte. And the helpers `guardrail eval` needs: folds and
 * thresholds. Not on the hot path: `guardrail train` and `eval` use it. */
#ifndef GW_SCREEN_TRAIN_H
#define GW_SCREEN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "screen/model.h"

/* One text's features as a sparse vector: distinct buckets in ascending order, and the
 * value of each (model.h: 1/sqrt(N) a text feature, 1 a rule feature, summed). */
struct gw_train_doc {
    uint32_t *b;
    float *x;
    uint32_t n;
};

struct gw_train_opts {
    unsigned bits;
    unsigned epochs;
    double rate; /* Adagrad's step */
    double l2;
    uint64_t seed;
    double pos_weight; /* a positive's weight relative to the class balance (1: balanced) */
    /* After epochs, hard_epochs more in which the share hard_share of negatives that score
     * highest weigh hard_weight times as much: the tail false blocks come from. */
    unsigned hard_epochs;
    double hard_share, hard_weight;
    /* Per bucket, 1 where the weight may not go below 0: the buckets of the rules' ids, so
     * that a rule that fired never makes a text look safer to the model (a flag rule such
     * as "asks for a human" must not cancel a block). NULL: none. */
    const unsigned char *nonneg;
};

#define GW_TRAIN_DEFAULTS                                                                  \
    (struct gw_train_opts)                                                                 \
    {                                                                                      \
        .bits = 17, .epochs = 25, .rate = 0.1, .l2 = 1e-6, .seed = 1, .pos_weight = 1.0,   \
        .hard_epochs = 10, .hard_share = 0.05, .hard_weight = 5                             \
    }

int gw_train_doc_set(struct gw_train_doc *d, const struct gw_feats *f);
void gw_train_doc_free(struct gw_train_doc *d);
/* The windows the model scores a long text by (model.h, GW_MODEL_HALF), as docs: text
 * features [k H, min((k + 2) H, n_text)) while (k + 1) H < n_text, each with all the rule
 * features. A text of at most two halves is its one window, the whole doc: none are made.
 * *out (free each doc, then it) and *n; returns 0 or -1 (out of memory). */
int gw_train_windows(const struct gw_feats *ft, struct gw_train_doc **out, size_t *n);

/* Trains one head on docs with y[i] = 1 (positive), 0 (negative) or -1 (left out). Fills
 * w (1 << bits doubles) and *bias. Returns 0, or -1 (out of memory, or no row of a class). */
int gw_train_head(const struct gw_train_doc *docs, size_t n, const signed char *y,
                  const struct gw_train_opts *o, double *w, double *bias);
/* A trained head's score of a doc, 0 to 1 (what the quantised model gives, within 1e-3). */
float gw_train_score(const double *w, double bias, const struct gw_train_doc *d);
/* Stores head h of m (m->bits, m->n_heads and m->w set by the caller) from w and bias:
 * int16 weights with the head's scale. */
void gw_train_quantise(struct gw_model *m, unsigned h, const double *w, double bias);

/* The lowest threshold t such that at most floor(rate * n) of the negatives' scores are at
 * or above t (a score at t fires: rules compare with >=). 1.0 past the highest score when
 * rate allows none; a little above the highest score that must not fire otherwise. */
float gw_threshold_for_rate(const float *neg, size_t n, double rate);

/* Threshold t as printed with four decimals for a pack's 'above': rounded up, never below
 * t, so that read back (to a float, as the loader reads it) it fires at no score under t. */
double gw_threshold_printed(float t);

/* The fold of a text, 0 .. k-1: from its FNV-1a hash, so a row keeps its fold whatever
 * the order or the other rows of the files. */
unsigned gw_train_fold(const char *text, size_t len, unsigned k);

#endif
