#ifndef GW_UTIL_JSON_ARENA_H
#define GW_UTIL_JSON_ARENA_H

#include <stddef.h>

/* An arena for the cJSON trees of the hot path. A worker parses a request, a reply or a
 * stream event, screens it and drops the tree within one callback. Between gw_json_scope_begin and gw_json_scope_end on that thread,
 * cJSON's allocations come from the worker's arena (a bump pointer; freeing is a no-op)
 * and the arena is emptied at the end, instead of some 15 malloc/free pairs per request.
 * When the arena is full, allocations fall back to malloc. Nothing allocated inside a
 * scope may outlive it: gw_json_print_heap prints a tree into malloc'd memory for that.
 * Other threads, and the worker outside a scope, use malloc as before. Under
 * AddressSanitizer the arena's free space is poisoned, so a node used after its scope is
 * still caught. */
struct gw_json_arena {
    char *base;
    size_t cap, used;
};

/* Points cJSON at the arena-aware allocator. Once, before any thread starts. */
void gw_json_hooks_install(void);
/* Makes a an arena of cap bytes and attaches it to the calling thread. Returns 0 or -1. */
int gw_json_arena_attach(struct gw_json_arena *a, size_t cap);
/* Detaches the calling thread's arena and frees it. */
void gw_json_arena_detach(struct gw_json_arena *a);
void gw_json_scope_begin(void);
void gw_json_scope_end(void);
/* cJSON_PrintUnformatted into malloc'd memory (free with free()), inside a scope too. */
struct cJSON;
char *gw_json_print_heap(const struct cJSON *item);

#endif
