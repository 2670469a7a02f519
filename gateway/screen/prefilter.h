/* Required literals ("atoms") of a pattern, for a prefilter in front of Hyperscan.
 *
 * Hyperscan triggers its automata on the literals it picks from a pattern, and for the
 * injection and unsafe packs these are often short, common words ("you", "it", "make")
 * at the start of a long pattern: every such word in a chat message wakes that
 * pattern's automaton, and the prompt scan ran at about 25 MB/s. As RE2's FilteredRE2
 * does, this module reads a pattern and finds a set of literals one of which every
 * match must contain (say "restrictions|filters|guidelines|..." at the end). A pattern
 * with a good set is scanned only when the main database (which holds every such
 * pattern's atoms as caseless literals) finds one of them in the text; see ruleset.c.
 *
 * The analysis is conservative: a construct it does not understand adds no
 * requirement, and a pattern it cannot read at all gets no atoms (it is always
 * scanned). Atoms are lower-case and are matched without regard to case, so the
 * pattern's own case flags do not matter. */
#ifndef GW_SCREEN_PREFILTER_H
#define GW_SCREEN_PREFILTER_H

#include <stddef.h>

/* The most atoms a pattern may have, and the longest atom kept. */
#define GW_ATOMS_MAX 64
#define GW_ATOM_LEN_MAX 48

struct gw_atoms {
    char **v; /* NUL-terminated, lower-case */
    size_t n;
};

/* Fills out with a set of literals one of which occurs (ignoring case) in every match
 * of the PCRE-syntax expression expr, each at least min_len bytes long. Returns 0 with
 * out->n > 0, or -1 when there is no such set that the analysis can prove (out is
 * empty then). A pattern that matches only a few fixed strings gets none either: it is
 * as cheap as its atoms would be. */
int gw_atoms_extract(const char *expr, size_t min_len, struct gw_atoms *out);
void gw_atoms_free(struct gw_atoms *a);

#endif
