/* The ruleset: a rule table compiled into Hyperscan databases. Immutable once built and
 * shared by reference count between workers; a request holds a reference until it ends,
 * so a reload never changes the rules under a request in flight. */
#ifndef GW_SCREEN_RULESET_H
#define GW_SCREEN_RULESET_H

#include <stdatomic.h>
#include <hs/hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "screen/rules.h"

/* Widest hold-back a stream keeps when a reply rule's match width is unbounded, and the
 * widest span a match is looked for in (see gw_cands_add). */
#define GW_HOLDBACK_CAP 256
#define GW_SPAN_MAX 256

/* Shortest atom a prefiltered pattern may have (see prefilter.h), and shortest
 * expression that is prefiltered at all (see compile_block in ruleset.c). */
#define GW_ATOM_MIN_LEN 3
#define GW_PREFILTER_MIN_EXPR 100

/* The prefiltered patterns of one direction, block mode, in groups (a pattern, or a run of
 * one rule's patterns with the same atoms): each group has its own database, scanned only
 * when the main database finds one of its atoms in the text (they are in it with ids from
 * table.n_patterns on: id - n_patterns is the group's index here). */
struct gw_gated {
    hs_database_t **db;
    unsigned *first, *count; /* each group's first pattern, and how many it has */
    uint8_t *borrowed;       /* replies: the db is the prompts' group's (freed with it) */
    unsigned n;              /* groups */
    unsigned patterns;       /* prefiltered patterns in them */
};

/* Prompt texts known to have no finding under these rules, shared by every scanner of
 * the ruleset (see scan.c): slots of the two halves of a keyed 128-bit hash, read and
 * written with relaxed atomics. The one mutable part of a ruleset, and safe without a
 * lock. */
struct gw_memo {
    _Atomic uint64_t (*slot)[2]; /* NULL: no memo */
    size_t mask;
    uint8_t key[16];
};

struct gw_ruleset {
    atomic_int refs;
    struct gw_rule_table table;
    hs_database_t *block_db[2]; /* [0] prompt, [1] reply; NULL when no rule applies */
    struct gw_gated gated[2];   /* block mode, by direction: left out of block_db */
    /* Block mode, by direction: the allow patterns left out of block_db and gated[], and
     * for each rule, bit gw_dir_index(dir) when it has allow patterns in allow_db[dir]. An
     * allow pattern only ever cancels its own rule's matches, so a text in which no such
     * rule has a candidate needs no allow scan (match_view in scan.c). */
    hs_database_t *allow_db[2];
    uint8_t *allow_rules;
    hs_database_t *stream_db;   /* reply rules, stream mode; NULL when none */
    hs_scratch_t *proto_scratch; /* grown for every database; cloned per scanner */
    pcre2_code **confirm;        /* per pattern: finds the start of a span rule's match
                                    (Hyperscan reports ends only); NULL for other rules */
    unsigned holdback;           /* bytes a reply stream holds back (<= GW_HOLDBACK_CAP) */
    struct gw_memo memo;
    /* The model rules (rules.h: 'head') that apply to each direction, strongest action
     * first; the model itself is table.model. Block mode only: a stream has none. */
    unsigned *model_rules[2];
    unsigned n_model_rules[2];
    /* the config's policies over these rules (server/policy.c), by policy index; built
     * before the ruleset is shared, freed with it */
    struct gw_rule_policy **views;
    size_t n_views;
};

/* The on-disk cache of compiled databases (ruleset.c) keeps its GW_CACHE_KEEP most
 * recently used files, GW_CACHE_BYTES of them at most. */
#define GW_CACHE_KEEP 64
#define GW_CACHE_BYTES (512ull << 20)

/* Compiles a loaded rule table. Ownership of *t moves to the ruleset (t is emptied).
 * Returns 0 and *out with one reference, or -1 with messages in errs. */
int gw_ruleset_compile(struct gw_rule_table *t, struct gw_ruleset **out, struct gw_errors *errs);
/* Loads every path (pack file or directory) and compiles them. A path with errors
 * fails the whole load: a ruleset that is wrong never replaces a working one. */
int gw_ruleset_load(const char *const *paths, size_t n, struct gw_ruleset **out,
                    struct gw_errors *errs);
/* The same without the learned stage: no model file is read and model rules are left out
 * (what `guardrail train` scans with, so a model is never trained on its own output). */
int gw_ruleset_load_rules_only(const char *const *paths, size_t n, struct gw_ruleset **out,
                               struct gw_errors *errs);
struct gw_ruleset *gw_ruleset_ref(struct gw_ruleset *rs);
/* Whether the prefilter considers pattern i of t in direction dir: a pattern of a rule
 * that applies there, not a phrase, of at least GW_PREFILTER_MIN_EXPR bytes. Phrases, pure
 * literals and short patterns (a literal and a class or two, like most secret formats and
 * generated brand lists) stay in the main database: Hyperscan handles them best there, and
 * a database of their own would cost a scan call each time their atom shows up. The
 * prefilter is for the long patterns of alternations and word gaps that the injection,
 * unsafe and brand packs are made of. In replies only the rules about what is said
 * (unsafe, injection, brand) are considered: the PII and secrets packs' patterns are
 * short, or need every match, and bench/scan.sh measured them 8% slower behind a gate;
 * the unsafe pack's long patterns were 20% faster, and the brand pack's claims (a verb,
 * words, then a claim) took replies from 3.6 to 3.3 µs a message, with the same findings
 * on 18,091 replies. When it does, fills *atoms (empty when the pattern has no good set;
 * free with gw_atoms_free). compile_block gates exactly these, when they have atoms, and
 * `guardrail check --prefilter` lists them. */
struct gw_atoms;
bool gw_prefilter_candidate(const struct gw_rule_table *t, size_t i, enum gw_direction dir,
                            struct gw_atoms *atoms);
/* Gives the ruleset a memo of up to entries (rounded up to a power of two) prompt texts
 * that had no finding, so that gw_scan answers them again without scanning: for the
 * earlier turns of a conversation, which clients send again with every turn, whichever
 * worker gets them. Call before the ruleset is shared. Returns 0, or -1 when out of
 * memory (the ruleset then works without one). */
int gw_ruleset_memo(struct gw_ruleset *rs, size_t entries);
/* Drops one reference; frees the ruleset with the last. NULL is fine. */
void gw_ruleset_unref(struct gw_ruleset *rs);
/* Rulesets compiled and not yet freed, in the whole process (for /metrics): the active one,
 * plus those that requests begun before a reload still hold. Past a reload it should come
 * back to 1; one that stays above holds a few tens of MB of databases for nothing. */
unsigned gw_ruleset_live(void);

/* 0 for prompt, 1 for reply. */
static inline int gw_dir_index(enum gw_direction d)
{
    return d == GW_DIR_REPLY;
}

#endif
