/* The small helpers under gateway/util: array growth and the JSON arena. */
#include <stdarg.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "util/buf.h"
#include "util/json_arena.h"
#include "util/siphash.h"

static void grow_doubles_from_first_and_keeps_elements(void **state)
{
    int *v = NULL;
    size_t cap = 0, n = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gw_grow(&v, &cap, n, sizeof *v, 4), 0);
        assert_true(cap > n);
        v[n++] = i * 7;
    }
    assert_int_equal(cap, 128); /* 4, 8, ..., 128 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(v[i], i * 7);
    /* Room left: nothing moves. */
    int *before = v;
    assert_int_equal(gw_grow(&v, &cap, 100, sizeof *v, 4), 0);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 128);
    /* A size that cannot be allocated fails and leaves the array as it was. */
    size_t huge = (size_t)1 << (sizeof(size_t) * 8 - 2);
    size_t big_cap = huge;
    assert_int_equal(gw_grow(&v, &big_cap, huge, sizeof *v, 4), -1);
    assert_ptr_equal(v, before);
    assert_int_equal(big_cap, huge);
    free(v);
}

static bool inside(const struct gw_json_arena *a, const void *p)
{
    return (const char *)p >= a->base && (const char *)p < a->base + a->cap;
}

/* Inside a scope cJSON's nodes come from the arena and the scope's end empties it;
 * outside a scope, past its end, and for gw_json_print_heap, memory comes from malloc. */
static void json_arena_serves_scopes_only(void **state)
{
    gw_json_hooks_install();
    struct gw_json_arena a;
    assert_int_equal(gw_json_arena_attach(&a, 4096), 0);

    cJSON *outside = cJSON_CreateString("before any scope");
    assert_false(inside(&a, outside));

    gw_json_scope_begin();
    cJSON *root = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
    assert_non_null(root);
    assert_true(inside(&a, root));
    assert_true(a.used > 0);
    char *heap = gw_json_print_heap(root);
    assert_false(inside(&a, heap));
    assert_string_equal(heap, "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
    /* Larger than what is left: malloc, freed by the same hook. */
    char big[8192];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cJSON *large = cJSON_CreateString(big);
    assert_non_null(large);
    assert_false(inside(&a, large->valuestring));
    cJSON_Delete(large);
    cJSON_Delete(root); /* arena nodes: nothing to free */
    gw_json_scope_end();
    assert_int_equal(a.used, 0);

    /* The next scope starts at the beginning again. */
    gw_json_scope_begin();
    cJSON *again = cJSON_CreateObject();
    assert_ptr_equal(again, a.base);
    cJSON_Delete(again);
    gw_json_scope_end();

    free(heap);
    cJSON_Delete(outside);
    gw_json_arena_detach(&a);
    cJSON *after = cJSON_CreateNumber(1); /* no arena: plain malloc */
    cJSON_Delete(after);
}

/* The reference implementation's test vectors (veorq/SipHash vectors.h): key 00..0f,
 * message 00..(len-1). */
static void siphash_matches_the_reference_vectors(void **state)
{
    uint8_t key[16], msg[16];
    for (int i = 0; i < 16; i++)
        key[i] = msg[i] = (uint8_t)i;
    assert_true(gw_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(gw_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL); /* the paper's example */
    static const char *const sip128[] = {"a3817f04ba25a8e66df67214c7550293",
                                         "da87c1d86b99af44347659119b22fc45",
                                         "8177228da4a45dc7fca38bdef60affe4",
                                         "9c70b60c5267a94e5f33b6b02985ed51"};
    for (size_t len = 0; len < 4; len++) {
        uint64_t out[2];
        gw_siphash128(key, msg, len, out);
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", (unsigned)(out[i / 8] >> (8 * (i % 8))) & 0xff);
        assert_string_equal(hex, sip128[len]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grow_doubles_from_first_and_keeps_elements),
        cmocka_unit_test(json_arena_serves_scopes_only),
        cmocka_unit_test(siphash_matches_the_reference_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
