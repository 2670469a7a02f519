/* What the libFuzzer targets share: a check that aborts (libFuzzer reports it as a crash,
 * with the input), piece sizes derived from the input for the split-invariant targets, and
 * the check that what the gateway writes to a client is well-formed. */
#ifndef GW_FUZZ_FUZZ_H
#define GW_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cuts of an input into pieces, from a seed taken from the input itself (so a crash
 * reproduces from its file alone): mostly small pieces (1 to 16 bytes), now and then a
 * large one. */
struct fuzz_cuts {
    uint64_t state;
};
static inline void fuzz_cuts_init(struct fuzz_cuts *c, const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a of the input */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211u;
    c->state = h | 1;
}

/* The length of the next piece, 1 to left (left > 0). */
static inline size_t fuzz_cuts_next(struct fuzz_cuts *c, size_t left)
{
    c->state ^= c->state << 13; /* xorshift64 */
    c->state ^= c->state >> 7;
    c->state ^= c->state << 17;
    size_t n = (c->state >> 8) % 8 == 0 ? (size_t)(c->state >> 16) % 4096 + 1
                                        : (size_t)(c->state >> 16) % 16 + 1;
    return n < left ? n : left;
}

/* Aborts unless out is a sequence of SSE events (name optional) each with one data line,
 * "[DONE]" or one JSON document, and each ended by an empty line; or, with sse false, one
 * JSON document. */
void fuzz_check_client_bytes(const char *out, size_t len, int sse);

#endif
