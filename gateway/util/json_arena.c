#include "util/json_arena.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static __thread struct gw_json_arena *tl_arena; /* this thread's, for its whole life */
static __thread bool tl_active;                 /* inside a scope */

static void *arena_malloc(size_t n)
{
    struct gw_json_arena *a = tl_arena;
    if (a && tl_active) {
        size_t need = (n + 15) & ~(size_t)15;
        if (need >= n && need <= a->cap - a->used) {
            char *p = a->base + a->used;
            a->used += need;
            UNPOISON(p, n);
            return p;
        }
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    struct gw_json_arena *a = tl_arena;
    if (a && (char *)p >= a->base && (char *)p < a->base + a->cap)
        return; /* emptied with the scope */
    free(p);
}

void gw_json_hooks_install(void)
{
    cJSON_Hooks h = {arena_malloc, arena_free};
    cJSON_InitHooks(&h);
}

int gw_json_arena_attach(struct gw_json_arena *a, size_t cap)
{
    a->base = malloc(cap);
    a->cap = a->base ? cap : 0;
    a->used = 0;
    if (!a->base)
        return -1;
    POISON(a->base, a->cap);
    tl_arena = a;
    return 0;
}

void gw_json_arena_detach(struct gw_json_arena *a)
{
    if (tl_arena == a)
        tl_arena = NULL;
    UNPOISON(a->base, a->cap);
    free(a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}

void gw_json_scope_begin(void)
{
    tl_active = tl_arena != NULL;
}

void gw_json_scope_end(void)
{
    struct gw_json_arena *a = tl_arena;
    tl_active = false;
    if (a) {
        POISON(a->base, a->used);
        a->used = 0;
    }
}

char *gw_json_print_heap(const struct cJSON *item)
{
    bool was = tl_active;
    tl_active = false;
    char *s = cJSON_PrintUnformatted(item);
    tl_active = was;
    return s;
}
