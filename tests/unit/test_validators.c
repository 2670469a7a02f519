#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "screen/validators.h"

#define V(fn, s) fn((s), strlen(s))

static void card_accepts_network_numbers_with_luhn(void **state)
{
    assert_true(V(gw_valid_card, "4111111111111111"));    /* Visa 16 */
    assert_true(V(gw_valid_card, "4222222222222"));       /* Visa 13 */
    assert_true(V(gw_valid_card, "5555555555554444"));    /* Mastercard */
    assert_true(V(gw_valid_card, "2223003122003222"));    /* Mastercard 2-series */
    assert_true(V(gw_valid_card, "378282246310005"));     /* Amex 15 */
    assert_true(V(gw_valid_card, "6011111111111117"));    /* Discover */
    assert_true(V(gw_valid_card, "30569309025904"));      /* Diners 14 */
    assert_true(V(gw_valid_card, "3530111333300000"));    /* JCB */
    assert_true(V(gw_valid_card, "180001234567899"));     /* JCB, 15 digits */
    assert_true(V(gw_valid_card, "4111 1111 1111 1111")); /* grouped with spaces */
    assert_true(V(gw_valid_card, "4111-1111-1111-1111")); /* grouped with dashes */
}

/* A labelled number's last digits pass Luhn, whatever their network. */
static void luhn_tail_reads_the_number_after_its_label(void **state)
{
    (void)state;
    assert_true(gw_valid_luhn_tail("card 180012345678905", 20));
    assert_true(gw_valid_luhn_tail("card number: 3599123412341233", 29));
    assert_false(gw_valid_luhn_tail("card 3538161333100147", 21));
    assert_false(gw_valid_luhn_tail("card 4242", 9)); /* too short */
    assert_false(gw_valid_luhn_tail("card", 4));
}

static void card_accepts_the_other_networks_and_separators(void **state)
{
    assert_true(V(gw_valid_card, "123456789012347"));     /* UATP 15 */
    assert_true(V(gw_valid_card, "2200123456789019"));    /* Mir */
    assert_true(V(gw_valid_card, "6080123456789015"));    /* RuPay */
    assert_true(V(gw_valid_card, "9792123456789018"));    /* Troy */
    assert_true(V(gw_valid_card, "6370000000000009"));    /* InstaPayment */
    assert_true(V(gw_valid_card, "3112345678901234564")); /* China T-Union 19 */
    assert_true(V(gw_valid_card, "5000123456787"));       /* Maestro 13 */
    assert_true(V(gw_valid_card, "4111.1111.1111.1111"));
    assert_true(V(gw_valid_card, "4111/1111/1111/1111"));
    assert_true(V(gw_valid_card, "1234 56789 012347")); /* UATP 4-5-6 */
    /* the separators a reply may use, one kind a number, spaced or not */
    assert_true(V(gw_valid_card, "4111_1111_1111_1111"));
    assert_true(V(gw_valid_card, "4111 . 1111 . 1111 . 1111")); /* "4111 • 1111 ...", normalised */
    assert_true(V(gw_valid_card, "4111 - 1111 - 1111 - 1111"));
    assert_true(V(gw_valid_card, "4111|1111|1111|1111"));
    assert_true(V(gw_valid_card, "4111,1111,1111,1111"));
    assert_true(V(gw_valid_card, "4111, 1111, 1111, 1111"));
    /* different marks in one number read as one card to the customer */
    assert_true(V(gw_valid_card, "4111.1111-1111.1111"));
    assert_true(V(gw_valid_card, "4111 1111-1111 1111"));
    assert_true(V(gw_valid_card, "4111_1111 / 1111|1111"));
    assert_true(V(gw_valid_card, "4111  1111 1111 1111")); /* a doubled space */
    assert_true(V(gw_valid_card, "4111 - 1111-1111 - 1111"));
    assert_false(V(gw_valid_card, "4111 -- 1111 1111 1111")); /* a gap is one mark */
    /* or markdown around a group, which the customer's screen does not show */
    assert_true(V(gw_valid_card, "4111 **1111** 1111 1111"));
    assert_true(V(gw_valid_card, "4111 1111 `1111` 1111"));
    assert_false(V(gw_valid_card, "4111 **** 1111 1111 1111"));
    /* every group marked (review 31) */
    assert_true(V(gw_valid_card, "4111` `1111` `1111` `1111"));
    assert_true(V(gw_valid_card, "4111** **1111** **1111** **1111"));
    assert_true(V(gw_valid_card, "4111 **1111**, 1111 1111"));
    /* a list that counts is no card, however Luhn falls (review 31) */
    assert_false(V(gw_valid_card, "5000, 5001, 5002, 5003"));
    assert_false(V(gw_valid_card, "4100 | 4105 | 4110 | 4115"));
    assert_true(V(gw_valid_card, "4242 4242 4242 4242"));
}

static void card_rejects_lengths_the_network_never_issues(void **state)
{
    assert_false(V(gw_valid_card, "1000000000000009"));    /* UATP is 15 */
    assert_false(V(gw_valid_card, "41111111111114"));      /* Visa has no 14 */
    assert_false(V(gw_valid_card, "4111..1111.1111.1111"));
    assert_false(V(gw_valid_card, "-4111-1111-1111-1111"));
}

static void card_rejects_bad_check_digit_prefix_length_or_separators(void **state)
{
    assert_false(V(gw_valid_card, "4111111111111112"));     /* Luhn */
    assert_false(V(gw_valid_card, "1234567812345670"));     /* Luhn ok, no network */
    assert_false(V(gw_valid_card, "411111111111111"));      /* Visa has no 15 */
    assert_false(V(gw_valid_card, "37828224631000"));       /* Amex is 15 */
    assert_false(V(gw_valid_card, "4111 x 1111 x 1111 x 1111")); /* a letter is no separator */
    assert_false(V(gw_valid_card, "41111111111"));          /* too short */
    assert_false(V(gw_valid_card, "41111111111111111111")); /* 20 digits */
    assert_false(V(gw_valid_card, ""));
}

static void luhn_checks_the_digits_only(void **state)
{
    assert_true(V(gw_luhn, "79927398713"));
    assert_false(V(gw_luhn, "79927398710"));
    assert_false(V(gw_luhn, "7992a398713"));
}

static void iban_accepts_valid_country_lengths_and_checksums(void **state)
{
    assert_true(V(gw_valid_iban, "GB82WEST12345698765432"));
    assert_true(V(gw_valid_iban, "GB82 WEST 1234 5698 7654 32"));
    assert_true(V(gw_valid_iban, "NO9386011117947")); /* shortest: 15 */
    assert_true(V(gw_valid_iban, "MT84MALT011000012345MTLCAST001S"));
    assert_true(V(gw_valid_iban, "GB82-WEST-1234-5698-7654-32"));
    /* other gaps, the same every time, and one after the country code */
    assert_true(V(gw_valid_iban, "BE68.5390.0754.7034"));
    assert_true(V(gw_valid_iban, "AT61_1904_3002_3457_3201"));
    assert_true(V(gw_valid_iban, "PL61 . 1090 . 1014 . 0000 . 0712 . 1981 . 2874"));
    assert_true(V(gw_valid_iban, "DE 89 3704 0044 0532 0130 00"));
    assert_true(V(gw_valid_iban, "IT-60X0542811101000000123456"));
    assert_true(V(gw_valid_iban, "ES91 21000418 450200051332"));
}

static void iban_rejects_wrong_checksum_length_or_country(void **state)
{
    assert_false(V(gw_valid_iban, "GB82WEST12345698765433"));      /* checksum */
    assert_false(V(gw_valid_iban, "GB82WEST1234569876543"));       /* GB is 22 */
    assert_false(V(gw_valid_iban, "ZZ82WEST12345698765432"));      /* no such country */
    assert_true(V(gw_valid_iban, "gb82 west 1234 5698 7654 32"));  /* written in lower case */
    assert_false(V(gw_valid_iban, "GB82 wEST 1234 5698 7654 32")); /* mixed case */
    assert_false(V(gw_valid_iban, "GB82 WEST.1234 5698 7654 32")); /* two kinds of gap */
    assert_false(V(gw_valid_iban, "GB82 WEST 1234 5698 7654 32 ")); /* ends with a gap */
    assert_false(V(gw_valid_iban, "GB"));
    assert_false(V(gw_valid_iban, "GB82-WEST 1234-5698-7654-32")); /* mixed separators */
    assert_false(V(gw_valid_iban, "GB82--WEST-1234-5698-7654-32"));
    assert_false(V(gw_valid_iban, "GB82/WEST/1234/5698/7654/32")); /* not how IBANs print */
}

static void ssn_follows_ssa_rules(void **state)
{
    assert_true(V(gw_valid_ssn, "536-22-8726"));
    assert_true(V(gw_valid_ssn, "536228726"));
    assert_true(V(gw_valid_ssn, "536 22 8726"));
    assert_true(V(gw_valid_ssn, "536.22.8726"));
    assert_true(V(gw_valid_ssn, "536 - 22 - 8726")); /* other gaps, the same twice */
    assert_true(V(gw_valid_ssn, "536_22_8726"));
    assert_true(V(gw_valid_ssn, "536 . 22 . 8726"));
    assert_false(V(gw_valid_ssn, "536_22-8726"));
    assert_false(V(gw_valid_ssn, "5362_2_8726"));
    assert_false(V(gw_valid_ssn, "536 x 22 x 8726"));
    assert_true(V(gw_valid_ssn, "536/22/8726"));
    assert_false(V(gw_valid_ssn, "000-22-8726")); /* area 000 */
    assert_false(V(gw_valid_ssn, "666-22-8726")); /* area 666 */
    assert_false(V(gw_valid_ssn, "912-22-8726")); /* area 9xx */
    assert_false(V(gw_valid_ssn, "536-00-8726")); /* group 00 */
    assert_false(V(gw_valid_ssn, "536-22-0000")); /* serial 0000 */
    assert_false(V(gw_valid_ssn, "078-05-1120")); /* voided by the SSA */
    assert_false(V(gw_valid_ssn, "111-11-1111")); /* one digit repeated */
    assert_false(V(gw_valid_ssn, "536-228726"));  /* inconsistent separators */
    assert_false(V(gw_valid_ssn, "5362287261"));  /* 10 digits */
}

static void ipv4_octets_are_in_range(void **state)
{
    assert_true(V(gw_valid_ipv4, "192.168.0.1"));
    assert_true(V(gw_valid_ipv4, "0.0.0.0"));
    assert_true(V(gw_valid_ipv4, "255.255.255.255"));
    assert_false(V(gw_valid_ipv4, "256.1.1.1"));
    assert_false(V(gw_valid_ipv4, "1.1.1"));
    assert_false(V(gw_valid_ipv4, "1.1.1.1.1"));
    assert_false(V(gw_valid_ipv4, "01.1.1.1"));
    assert_false(V(gw_valid_ipv4, "1..1.1"));
    assert_false(V(gw_valid_ipv4, "1.1.1.1234"));
    assert_false(V(gw_valid_ipv4, "1.1.1.1."));
    assert_false(V(gw_valid_ipv4, ".1.1.1.1"));
}

/* Written defanged, or read out: the dots may be any of these, spaces around them. */
static void ipv4_dots_may_be_defanged(void **state)
{
    assert_true(V(gw_valid_ipv4, "198[.]51[.]100[.]23"));
    assert_true(V(gw_valid_ipv4, "198(.)51(.)100(.)23"));
    assert_true(V(gw_valid_ipv4, "198{.}51{.}100{.}23"));
    assert_true(V(gw_valid_ipv4, "198 dot 51 DOT 100 dot 23"));
    assert_true(V(gw_valid_ipv4, "198[dot]51 (dot) 100 . 23"));
    assert_false(V(gw_valid_ipv4, "198[.]51[.]300[.]23"));
    assert_false(V(gw_valid_ipv4, "198 dots 51 dot 100 dot 23"));
    assert_false(V(gw_valid_ipv4, "198,51,100,23"));
    assert_false(V(gw_valid_ipv4, "198 and 51 and 100 and 23"));
}

static void ipv6_text_forms(void **state)
{
    assert_true(V(gw_valid_ipv6, "2001:0db8:85a3:0000:0000:8a2e:0370:7334"));
    assert_true(V(gw_valid_ipv6, "2001:db8::1"));
    assert_true(V(gw_valid_ipv6, "::1"));
    assert_true(V(gw_valid_ipv6, "fe80::"));
    assert_true(V(gw_valid_ipv6, "::ffff:192.0.2.128"));
    assert_false(V(gw_valid_ipv6, "12:30:45"));
    assert_false(V(gw_valid_ipv6, "2001:db8::1::2"));
    assert_false(V(gw_valid_ipv6, "2001:db8:1:2:3:4:5:6:7"));
    assert_false(V(gw_valid_ipv6, "12345::1"));
    assert_false(V(gw_valid_ipv6, "2001:db8:"));
}

static void phone_counts_digits(void **state)
{
    assert_true(V(gw_valid_phone, "+1 (415) 555-2671"));
    assert_true(V(gw_valid_phone, "020 7946 0958"));
    assert_false(V(gw_valid_phone, "555-12"));            /* 5 digits */
    assert_false(V(gw_valid_phone, "+1234567890123456")); /* 16 digits */
    assert_false(V(gw_valid_phone, "000-000-0000"));      /* one digit repeated */
}

static void spelled_digits_are_counted_from_words(void **state)
{
    assert_true(V(gw_valid_spelled_digits, "four one five, five five five, two six seven one"));
    assert_true(V(gw_valid_spelled_digits, "oh seven seven zero zero, nine double oh one two"));
    assert_true(V(gw_valid_spelled_digits, "415 five five five 2671"));
    assert_true(V(gw_valid_spelled_digits, "Five-Five-Nine-Eight-Nine-Zero-Five"));
    assert_true(V(gw_valid_spelled_digits, "six\nfour six five five five seven"));
    assert_false(V(gw_valid_spelled_digits, "4155 5526 71 one two"));        /* two words */
    assert_false(V(gw_valid_spelled_digits, "one two three four five six")); /* 6 digits */
    assert_false(V(gw_valid_spelled_digits, "one, two, three, four, five, six, seven"));
    assert_false(V(gw_valid_spelled_digits, "7 8 9 0 1 2 3 4 5")); /* a ruler's count */
    assert_false(V(gw_valid_spelled_digits, "nine eight seven six five four three"));
    assert_true(V(gw_valid_spelled_digits, "(4 1 5) 5 5 5 - 2 6 7 1"));
    assert_true(V(gw_valid_spelled_digits, "7.1.8.5.5.5.0.1.4.2"));
    assert_true(V(gw_valid_spelled_digits, "five three six dash two two dash one one eight"));
    assert_true(V(gw_valid_spelled_digits, "oh seven nine treble four two six"));
    assert_false(V(gw_valid_spelled_digits, "5, 6, 7, 8, 9, 10, 11, 12")); /* a list */
    assert_false(V(gw_valid_spelled_digits, "5 6 7 9 10 11 12"));          /* not one at a time */
    assert_false(V(gw_valid_spelled_digits, "one two dash"));
    assert_false(V(gw_valid_spelled_digits, "nine nine nine nine nine nine nine"));
    assert_false(V(gw_valid_spelled_digits, "one two three double")); /* nothing doubled */
    assert_false(V(gw_valid_spelled_digits, "double 5 one two three four five six"));
    assert_false(V(gw_valid_spelled_digits, "one two three four five six seven and eight"));
    assert_false(V(gw_valid_spelled_digits, "one two three four five six seven eight nine one "
                                            "two three four five six seven eight nine one two"));
    /* other languages' words, as the normal form writes them (no accents) */
    assert_true(V(gw_valid_spelled_digits, "cuatro cinco tres dos, uno ocho siete"));
    assert_true(V(gw_valid_spelled_digits, "eins sieben sechs drei acht zwei funf neun"));
    assert_true(V(gw_valid_spelled_digits, "zero six, quatre huit, deux cinq, neuf trois"));
    assert_true(V(gw_valid_spelled_digits, "nul zes vier acht twee zeven negen drie"));
    /* words that are other words as often are no digits: "un", "een", "um", "null", "due",
     * "sept" */
    assert_false(V(gw_valid_spelled_digits, "zero six, quatre huit, deux sept, neuf un"));
    assert_false(V(gw_valid_spelled_digits, "null null 1200 null 3400 null um 7"));
    assert_false(V(gw_valid_spelled_digits, "uno dos tres cuatro cinco seis siete")); /* a count */
    assert_false(V(gw_valid_spelled_digits, "un deux trois quatre")); /* four digits */
}

#define HOPELESS(s) gw_validator_hopeless(gw_valid_spelled_digits, (s), strlen(s))

static void a_list_of_numbers_is_hopeless_for_spelled_digits(void **state)
{
    /* no letter, and a run of two digits or more among the last four: no span can pass */
    assert_true(HOPELESS("[0.9121, 0.8957, -0.8869, -0.8303, 0"));
    assert_true(HOPELESS("| 3 | 75 | 33.70 |\n| 4 | 2 | 454"));
    assert_true(HOPELESS("5 5 5")); /* fewer than four runs */
    /* what may pass is left to PCRE2 and the validator */
    assert_false(HOPELESS("(4 1 5) 5 5 5 - 2 6 7 1"));
    assert_false(HOPELESS("call 415 five five five 2671"));
    assert_false(HOPELESS("22 4 1 5 5 5 2 6"));               /* the last seven are single digits */
    assert_true(HOPELESS("22 4 1 5 5"));                      /* fewer than seven */
    assert_true(HOPELESS("1-1-1-1-1-1-1-1-1-1"));             /* one digit repeated */
    assert_false(HOPELESS("1-1-1-1-2-1-1-1-1-1"));            /* two */
    assert_true(HOPELESS("[0, 1, 1, 0, 1, 0, 0, 1, 1"));      /* a list: commas between them */
    assert_true(HOPELESS("| 1 | 0 | 1 | 1 | 0 | 0 | 1 | 1")); /* a table */
    assert_false(HOPELESS("n\xc3\xbamero 5 5 5 12")); /* a byte past ASCII may be a letter */
    assert_false(gw_validator_hopeless(gw_valid_card, "1234 5678", 9)); /* no test of its own */
}

/* Whatever window: when it is hopeless, no span that ends where it ends passes, of those
 * pii.spelled_number's pattern can match: they start at a word boundary (\b), on a digit
 * when the window holds no letter. */
static void hopeless_never_hides_a_span_that_passes(void **state)
{
    static const char alphabet[] = "0123456789 ,.-/()|:";
    uint32_t x = 12345;
    char w[48];
    int hopeless = 0;
    for (int round = 0; round < 200000; round++) {
        size_t len = 1 + round % (sizeof w - 1);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            /* digits half the time, so that runs of one digit are common */
            w[i] = (x >> 16) % 2 ? alphabet[(x >> 8) % 10]
                                 : alphabet[(x >> 8) % (sizeof alphabet - 1)];
        }
        if (!gw_validator_hopeless(gw_valid_spelled_digits, w, len))
            continue;
        hopeless++;
        for (size_t start = 0; start < len; start++)
            if (w[start] >= '0' && w[start] <= '9' &&
                (start == 0 || w[start - 1] < '0' || w[start - 1] > '9'))
                assert_false(gw_valid_spelled_digits(w + start, len - start));
    }
    assert_true(hopeless > 1000);
}

static void validators_are_found_by_name(void **state)
{
    assert_ptr_equal(gw_validator_find("luhn"), gw_valid_card);
    assert_ptr_equal(gw_validator_find("iban"), gw_valid_iban);
    assert_ptr_equal(gw_validator_find("ssn"), gw_valid_ssn);
    assert_ptr_equal(gw_validator_find("ipv4"), gw_valid_ipv4);
    assert_ptr_equal(gw_validator_find("spelled_digits"), gw_valid_spelled_digits);
    assert_null(gw_validator_find("nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(card_accepts_network_numbers_with_luhn),
        cmocka_unit_test(luhn_tail_reads_the_number_after_its_label),
        cmocka_unit_test(card_rejects_bad_check_digit_prefix_length_or_separators),
        cmocka_unit_test(card_accepts_the_other_networks_and_separators),
        cmocka_unit_test(card_rejects_lengths_the_network_never_issues),
        cmocka_unit_test(luhn_checks_the_digits_only),
        cmocka_unit_test(iban_accepts_valid_country_lengths_and_checksums),
        cmocka_unit_test(iban_rejects_wrong_checksum_length_or_country),
        cmocka_unit_test(ssn_follows_ssa_rules),
        cmocka_unit_test(ipv4_octets_are_in_range),
        cmocka_unit_test(ipv6_text_forms),
        cmocka_unit_test(phone_counts_digits),
        cmocka_unit_test(ipv4_dots_may_be_defanged),
        cmocka_unit_test(spelled_digits_are_counted_from_words),
        cmocka_unit_test(a_list_of_numbers_is_hopeless_for_spelled_digits),
        cmocka_unit_test(hopeless_never_hides_a_span_that_passes),
        cmocka_unit_test(validators_are_found_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
