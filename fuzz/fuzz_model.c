/* libFuzzer target for the learned stage's model (screen/model.c).
 *
 * The input is read as a model file (gw_model_parse must refuse it or give a model whose
 * every field is in range), and as a text scored by a small model built here: whole
 * (gw_model_features and gw_model_score) and in pieces cut at places derived from the
 * input (gw_model_acc), which must give the same bucket sums, so the same score, bit for
 * bit; and by windows, which never score below the whole text. Every bucket a text gives
 * must be inside the table. */
#include <string.h>

#include "fuzz.h"
#include "screen/model.h"

#define BITS 10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_model *parsed = NULL;
    char err[256];
    if (gw_model_parse(data, size, "fuzz.model", &parsed, err, sizeof err) == 0) {
        CHECK(parsed->bits >= GW_MODEL_BITS_MIN && parsed->bits <= GW_MODEL_BITS_MAX);
        CHECK(parsed->n_heads >= 1 && parsed->n_heads <= GW_MODEL_HEADS_MAX);
        gw_model_free(parsed);
    } else {
        CHECK(parsed == NULL && strncmp(err, "fuzz.model: ", 12) == 0);
    }

    static int16_t w[(1 << BITS) * 2];
    static struct gw_model m = {.bits = BITS, .n_heads = 2, .w = w,
                                .scale = {0.01f, 0.02f}, .bias = {-1.0f, 0.5f}};
    if (!w[1])
        for (int i = 0; i < (1 << BITS) * 2; i++)
            w[i] = (int16_t)((i * 7919) % 2001 - 1000);
    const char *ids[] = {"rule.one", "rule.two"};
    struct gw_feats f = {0};
    CHECK(gw_model_features(BITS, (const char *)data, size, ids, 2, &f) == 0);
    for (size_t i = 0; i < f.n; i++)
        CHECK(f.v[i] < (1u << BITS));
    float whole[GW_MODEL_HEADS_MAX], pieces[GW_MODEL_HEADS_MAX], win[GW_MODEL_HEADS_MAX];
    gw_model_score(&m, &f, false, whole);
    /* by windows (prompts): never below the whole text's score (both scales are positive) */
    gw_model_score(&m, &f, true, win);
    for (unsigned h = 0; h < m.n_heads; h++)
        CHECK(win[h] >= whole[h] && win[h] <= 1.0f);
    struct gw_model_acc a = {0};
    gw_model_acc_init(&a, &m);
    struct fuzz_cuts cuts;
    fuzz_cuts_init(&cuts, data, size);
    for (size_t at = 0; at < size;) {
        size_t n = fuzz_cuts_next(&cuts, size - at);
        CHECK(gw_model_acc_feed(&a, (const char *)data + at, n) == 0);
        at += n;
    }
    CHECK(gw_model_acc_score(&a, ids, 2, pieces) == 0);
    CHECK(a.n_text == f.n_text);
    CHECK(memcmp(whole, pieces, 2 * sizeof *whole) == 0);
    gw_feats_free(&a.buf);
    gw_feats_free(&f);
    return 0;
}
