/* What a request's metadata becomes in records (kpi/privacy.h): the personal-data check,
 * request ids, tenants and models against their patterns and lists, conversation ids as
 * keyed hashes, and the conversation key (a secret, a key file, or random). */
#include <stdarg.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kpi/privacy.h"
#include "util/siphash.h"

static void emails_and_phone_numbers_look_like_personal_data(void **state)
{
    static const char *const pii[] = {
        "jane.doe@example.com",
        "j@x.io",
        "+44 7700 900123",
        "447700900123",
        "(555) 123-4567",
        "555.123.4567",
        "4111-1111-1111-1111",
        "1234567",
        "12:34:56:78",
        /* next to letters, and spelled out (a review's bypasses) */
        "cust-447700900123",
        "p447700900123",
        "4111111111111111a",
        "ssn-078-05-1120-x",
        "gpt-4o:447700900123",
        "john.doe_at_example.com",
        "jane(at)example.org",
        /* and the second review's */
        "jane_at_example_dot_com",
        "jane-at-example-com",
        "555---123---4567",
        "4111---1111---1111---1111",
        /* review 29: a card behind hex letters, and credentials */
        "cafe-4111-1111-1111-1111",
        "abcdef-4111-1111-1111-1111",
        "de-4111-1111-1111-1111",
        "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f",
        "sk_live_51Habc123DEF456ghi789JKL",
        "AKIAIOSFODNN7EXAMPLE",
        "tenant-sk-proj-Ab12Cd34Ef56Gh78Ij90",
        "xQ9vT2mK8pL4nR7sW1yZ5bC3dF6gH0jA2k",
        /* review 30: other issuers' shapes */
        "GOCSPX-aB3dE5gH7jK9mN1pQ3sT5vW7y",
        "gldt-aB3dE5gH7jK9mN1pQ3sT",
        "key-3ax6xnjp29jd6fds4gc373sgvjxteol0",
        "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r",
        "AKCp8jQ8aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f",
        /* review 31: bodies in hex or short */
        "0123456789abcdef0123456789abcdef-us6",
        "dapi0123456789abcdef0123456789abcdef",
        "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789",
        "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01",
        "NRAK-ABCDEFGHIJ0123456789ABCDEFG",
        "dckr_pat_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9",
        "doo_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        /* review 39: an address spelled with its mail service only, dates of birth */
        "jane.doe-at-gmail",
        "jane.doe-at-hotmail",
        "jdoe_at_outlook",
        "19850412",
        "dob-1985-04-12",
        "born.1962.11.30",
    };
    static const char *const not_pii[] = {
        "web-de",
        "req_2f9c:01-a",
        "123456",
        "gpt-4o-2024-08-06",
        "claude-3-5-sonnet@20241022",
        "@",
        "a@b",
        "order-1234567",
        /* dated model names, UUIDs and trace ids (the second review) */
        "claude-sonnet-4-20250514",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "gpt-4.1-2025-04-14",
        "o1-2024-12-17",
        "550e8400-e29b-41d4-a716-446655440000",
        "1-5759e988-bd862e3fe1be46a994272793",
        "req-20241022-123456",
        "2024.10.22.1",
        "team-at-home",
        "",
        "----",
        /* hex ids whose decimal groups are short, and names that are no keys */
        "0f8e5d3c-1234-4c5d-9e8f-7a6b5c4d3e2f",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "sk-shoes",
        "WhatsAppShoesChannel2024",
        "01HF8X3K2M9Q7R5T6V8W0Y2Z4A",
        "5759e988bd862e3fe1be46a994272793",
        "key-account-team",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        /* names that start like a key (review 31) */
        "ASIA-pacific-enterprise",
        "SG.acme-singapore-retail",
        "Contoso-Retail.Customer-Support.Tier2-Agents",
        /* recent dates are models' and requests' (and "at" before other words) */
        "gpt-4o-2024-08-06-at-web",
        "campaign-2019-03-01",
        "team-at-webshop",
    };
    /* a value too long to be read whole is refused, not read in part */
    char long_v[400];
    memset(long_v, 'a', 300);
    snprintf(long_v + 300, sizeof long_v - 300, "-447700900123");
    assert_true(gw_privacy_pii_like(long_v));
    for (size_t i = 0; i < sizeof pii / sizeof pii[0]; i++)
        assert_true(gw_privacy_pii_like(pii[i]));
    for (size_t i = 0; i < sizeof not_pii / sizeof not_pii[0]; i++)
        assert_false(gw_privacy_pii_like(not_pii[i]));
}

static void a_request_id_is_kept_only_when_short_safe_and_not_personal(void **state)
{
    assert_true(gw_privacy_request_id_ok("req_2f9c:01-a"));
    assert_true(gw_privacy_request_id_ok("0f8e5d3c-1b2a-4c5d-9e8f-7a6b5c4d3e2f"));
    assert_true(gw_privacy_request_id_ok("123456"));
    char max[GW_PRIVACY_REQUEST_ID_MAX + 2];
    memset(max, 'a', sizeof max);
    max[GW_PRIVACY_REQUEST_ID_MAX] = '\0';
    assert_true(gw_privacy_request_id_ok(max));
    max[GW_PRIVACY_REQUEST_ID_MAX] = 'a';
    max[GW_PRIVACY_REQUEST_ID_MAX + 1] = '\0';
    assert_false(gw_privacy_request_id_ok(max)); /* 65 bytes */
    assert_false(gw_privacy_request_id_ok(NULL));
    assert_false(gw_privacy_request_id_ok(""));
    assert_false(gw_privacy_request_id_ok("jane.doe@example.com"));
    assert_false(gw_privacy_request_id_ok("447700900123"));
    assert_false(gw_privacy_request_id_ok("555-123-4567"));
    assert_false(gw_privacy_request_id_ok("a b"));
    assert_false(gw_privacy_request_id_ok("a\"b"));
    assert_false(gw_privacy_request_id_ok("caf\xc3\xa9"));
}

static void without_a_list_a_tenant_is_kept_when_it_matches_the_pattern(void **state)
{
    struct gw_privacy p = {0};
    char out[GW_PRIVACY_TENANT_MAX + 1];
    gw_privacy_tenant(&p, "web-de.shop_1", out, sizeof out);
    assert_string_equal(out, "web-de.shop_1");
    gw_privacy_tenant(&p, NULL, out, sizeof out);
    assert_string_equal(out, "-");
    gw_privacy_tenant(&p, "", out, sizeof out);
    assert_string_equal(out, "-");
    static const char *const other[] = {
        "jane.doe@example.com", "07700 900123", "7700900123", "web de", "web/de", "w\"eb",
        "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        gw_privacy_tenant(&p, other[i], out, sizeof out);
        assert_string_equal(out, "other");
    }
    char long_tenant[GW_PRIVACY_TENANT_MAX + 2];
    memset(long_tenant, 't', sizeof long_tenant - 1);
    long_tenant[sizeof long_tenant - 1] = '\0';
    gw_privacy_tenant(&p, long_tenant, out, sizeof out);
    assert_string_equal(out, "other");
}

static void with_a_list_only_listed_tenants_and_models_are_kept(void **state)
{
    char *tenants[] = {"web", "app"}, *models[] = {"gpt-4o", "claude-3-5-sonnet@20241022"};
    struct gw_privacy p = {.tenants = tenants, .n_tenants = 2, .models = models, .n_models = 2};
    char out[GW_PRIVACY_MODEL_MAX + 1];
    gw_privacy_tenant(&p, "app", out, sizeof out);
    assert_string_equal(out, "app");
    gw_privacy_tenant(&p, "shop", out, sizeof out);
    assert_string_equal(out, "other");
    gw_privacy_tenant(&p, NULL, out, sizeof out);
    assert_string_equal(out, "-");
    gw_privacy_model(&p, "claude-3-5-sonnet@20241022", out, sizeof out);
    assert_string_equal(out, "claude-3-5-sonnet@20241022");
    gw_privacy_model(&p, "gpt-4o-mini", out, sizeof out);
    assert_string_equal(out, "other");
}

static void without_a_list_a_model_is_kept_when_it_matches_the_pattern(void **state)
{
    struct gw_privacy p = {0};
    char out[GW_PRIVACY_MODEL_MAX + 1];
    static const char *const kept[] = {"gpt-4o-2024-08-06", "meta-llama/Llama-3.1-8B-Instruct",
                                       "ft:gpt-4o-mini:acme:support:9x2k", "mock-1"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        gw_privacy_model(&p, kept[i], out, sizeof out);
        assert_string_equal(out, kept[i]);
    }
    static const char *const other[] = {"jane.doe@example.com", "claude@20241022", "gpt 4",
                                        "+447700900123"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        gw_privacy_model(&p, other[i], out, sizeof out);
        assert_string_equal(out, "other");
    }
    gw_privacy_model(&p, "-", out, sizeof out);
    assert_string_equal(out, "-");
    gw_privacy_model(&p, NULL, out, sizeof out);
    assert_string_equal(out, "-");
}

static void a_conversation_id_becomes_sixteen_hex_digits_of_its_keyed_hash(void **state)
{
    uint8_t k1[16] = "0123456789abcdef", k2[16] = "fedcba9876543210";
    char a[17], b[17], c[17], expect[17];
    gw_privacy_conversation(k1, "jane.doe@example.com", a, sizeof a);
    gw_privacy_conversation(k1, "jane.doe@example.com", b, sizeof b);
    gw_privacy_conversation(k2, "jane.doe@example.com", c, sizeof c);
    snprintf(expect, sizeof expect, "%016llx",
             (unsigned long long)gw_siphash(k1, "jane.doe@example.com", 20));
    assert_string_equal(a, expect);
    assert_string_equal(a, b);     /* one conversation, one id */
    assert_string_not_equal(a, c); /* another key, another id */
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
    gw_privacy_conversation(k1, "", a, sizeof a);
    assert_string_equal(a, "");
    gw_privacy_conversation(k1, NULL, a, sizeof a);
    assert_string_equal(a, "");
}

static void an_identifier_becomes_a_pseudonym_under_a_key_of_its_own(void **state)
{
    uint8_t k1[16] = "0123456789abcdef", k2[16] = "fedcba9876543210";
    char a[GW_PRIVACY_PSEUDONYM_MAX + 1], b[sizeof a], c[sizeof a], d[sizeof a], conv[17];
    gw_privacy_pseudonym(k1, "jane.doe@example.com", 20, a, sizeof a);
    gw_privacy_pseudonym(k1, "jane.doe@example.com", 20, b, sizeof b);
    gw_privacy_pseudonym(k2, "jane.doe@example.com", 20, c, sizeof c);
    gw_privacy_pseudonym(k1, "mary.major@example.com", 22, d, sizeof d);
    assert_int_equal(strlen(a), GW_PRIVACY_PSEUDONYM_MAX);
    assert_memory_equal(a, "gr-", 3);
    assert_int_equal(strspn(a + 3, "0123456789abcdef"), 16);
    assert_string_equal(a, b);     /* one customer, one pseudonym */
    assert_string_not_equal(a, c); /* another key, another pseudonym */
    assert_string_not_equal(a, d); /* another customer, another pseudonym */
    /* not the hash the same text gets as a conversation id, which kpi.db keeps */
    gw_privacy_conversation(k1, "jane.doe@example.com", conv, sizeof conv);
    assert_string_not_equal(a + 3, conv);
    /* A known value: the provider tells customers apart by their pseudonyms, so a build
     * on another platform (the derived key's byte order) or a change to the derivation
     * must not give every customer a new one unnoticed. */
    assert_string_equal(a, "gr-54e6969337bff463");
}

static void a_key_file_is_created_once_and_read_back(void **state)
{
    char dir[] = "/tmp/gw-privacy-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/kpi.db", dir);
    struct gw_privacy p = {0}, q = {0};
    enum gw_privacy_key_source src;
    assert_int_equal(gw_privacy_key_init(&p, db, &src, err, sizeof err), 0);
    assert_int_equal(src, GW_PRIVACY_KEY_CREATED);
    assert_non_null(p.key_file);
    char expect[160];
    snprintf(expect, sizeof expect, "%s.key", db);
    assert_string_equal(p.key_file, expect);
    struct stat st;
    assert_int_equal(stat(p.key_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 33);
    assert_int_equal(gw_privacy_key_init(&q, db, &src, err, sizeof err), 0);
    assert_int_equal(src, GW_PRIVACY_KEY_FILE);
    assert_memory_equal(p.key, q.key, 16);

    FILE *f = fopen(p.key_file, "w");
    fputs("zz not hex\n", f);
    fclose(f);
    struct gw_privacy bad = {0};
    assert_int_equal(gw_privacy_key_init(&bad, db, &src, err, sizeof err), -1);
    assert_non_null(strstr(err, "must hold the key as 32 hexadecimal digits"));

    unlink(p.key_file);
    rmdir(dir);
    free(p.key_file);
    free(q.key_file);
    free(bad.key_file);
}

static void a_secret_wins_and_without_store_or_file_the_key_is_random(void **state)
{
    char err[256];
    enum gw_privacy_key_source src;
    struct gw_privacy s1 = {.hash_key = "correct horse"}, s2 = {.hash_key = "correct horse"};
    assert_int_equal(gw_privacy_key_init(&s1, "/nonexistent/dir/kpi.db", &src, err, sizeof err), 0);
    assert_int_equal(src, GW_PRIVACY_KEY_SECRET);
    assert_null(s1.key_file); /* nothing written */
    assert_int_equal(gw_privacy_key_init(&s2, NULL, &src, err, sizeof err), 0);
    assert_memory_equal(s1.key, s2.key, 16);
    struct gw_privacy r1 = {0}, r2 = {0};
    assert_int_equal(gw_privacy_key_init(&r1, NULL, &src, err, sizeof err), 0);
    assert_int_equal(src, GW_PRIVACY_KEY_RANDOM);
    assert_int_equal(gw_privacy_key_init(&r2, NULL, &src, err, sizeof err), 0);
    assert_memory_not_equal(r1.key, r2.key, 16);
    struct gw_privacy unwritable = {0};
    assert_int_equal(
        gw_privacy_key_init(&unwritable, "/nonexistent/dir/kpi.db", &src, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/kpi.db.key: cannot create"));
    free(unwritable.key_file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(emails_and_phone_numbers_look_like_personal_data),
        cmocka_unit_test(a_request_id_is_kept_only_when_short_safe_and_not_personal),
        cmocka_unit_test(without_a_list_a_tenant_is_kept_when_it_matches_the_pattern),
        cmocka_unit_test(with_a_list_only_listed_tenants_and_models_are_kept),
        cmocka_unit_test(without_a_list_a_model_is_kept_when_it_matches_the_pattern),
        cmocka_unit_test(a_conversation_id_becomes_sixteen_hex_digits_of_its_keyed_hash),
        cmocka_unit_test(an_identifier_becomes_a_pseudonym_under_a_key_of_its_own),
        cmocka_unit_test(a_key_file_is_created_once_and_read_back),
        cmocka_unit_test(a_secret_wins_and_without_store_or_file_the_key_is_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
