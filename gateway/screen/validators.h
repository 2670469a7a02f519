/* Validators confirm a candidate match before it counts as a finding: a 16-digit run is
 * only a card number when its Luhn digit and network prefix agree, and so on.
 * Each takes the matched bytes (not NUL-terminated) and returns true when valid. */
#ifndef GW_SCREEN_VALIDATORS_H
#define GW_SCREEN_VALIDATORS_H

#include <stdbool.h>
#include <stddef.h>

typedef bool (*gw_validator_fn)(const char *s, size_t len);

/* Payment card: 12 to 19 digits with optional single separators of one kind (space,
 * dash, dot or slash) between groups, a known network prefix (UATP, Visa, Mastercard,
 * Mir, Amex, Discover, Diners, JCB, UnionPay, RuPay, Maestro and the other debit
 * ranges) with a length that network issues, and a correct Luhn check digit. */
bool gw_valid_card(const char *s, size_t len);
/* Whether the last run of digits in s (12 to 19 of them: a labelled number after its
 * label) passes the Luhn check, whatever its network. */
bool gw_valid_luhn_tail(const char *s, size_t len);
/* IBAN: ISO 13616 country code with that country's length, its groups parted by one gap
 * the same every time (a space, or one of "-._~|*:+," with or without spaces around it:
 * "DE89 3704 ...", "BE68.5390.0754.7034", "DE 89 3704 ..."; never a slash, which banks do
 * not print), and the mod-97 check equal to 1. Letters in upper or in lower case, not
 * mixed. */
bool gw_valid_iban(const char *s, size_t len);
/* US SSN: AAA-GG-SSSS (dashes, spaces, dots, slashes or none, used consistently); area
 * not 000, 666 or 900-999, group not 00, serial not 0000, and not a number the SSA
 * voided publicly. */
bool gw_valid_ssn(const char *s, size_t len);
/* IPv4 dotted quad, each octet 0-255 without leading zeros; the dots may be defanged
 * ("198[.]51[.]100[.]23", "(.)", "{.}", " dot ", "[dot]"). */
bool gw_valid_ipv4(const char *s, size_t len);
/* IPv6 in RFC 4291 text form (at most one "::", groups of 1-4 hex digits, an optional
 * trailing dotted quad); rejects strings that are all digits and colons with no "::"
 * and fewer than 8 groups, such as times "12:30:45". */
bool gw_valid_ipv6(const char *s, size_t len);
/* Phone: 7 to 15 digits (E.164 maximum) among + ( ) . - and spaces, not all one digit. */
bool gw_valid_phone(const char *s, size_t len);
/* A number read out in words ("four one five, five five five, two six seven one", "oh
 * seven seven double oh nine", "415 five five five 2671", "five three six dash two two"):
 * number words, "double", "triple" or "treble" before one, digit groups, apart by
 * " ,.-/()" or the words "dash" and "hyphen", with three words or more; or digits set
 * apart one at a time ("(3 1 2) 5 5 5 - 8 8 1 0", "7.1.8.5.5.5"), with no comma between
 * them as in a list. It says 7 to 19 digits, not one digit repeated and not a count. */
bool gw_valid_spelled_digits(const char *s, size_t len);
/* Plain Luhn check over the digits of s, ignoring spaces and dashes. */
bool gw_luhn(const char *s, size_t len);

/* Whether no span that ends where window w[0, len) ends can pass validator fn, whatever
 * PCRE2 would find: the scanner then does not ask it (a long list of numbers is thousands
 * of spans a number read out in words must look for, and turns down). false when fn has
 * no such test, or when one may pass. */
bool gw_validator_hopeless(gw_validator_fn fn, const char *w, size_t len);

/* Looks a validator up by its name in rule files ("luhn", "iban", ...); NULL if none. */
gw_validator_fn gw_validator_find(const char *name);
/* The names, comma-separated, for error messages. */
const char *gw_validator_names(void);

/* ---- the shop's own contacts ----
 * A pack's 'contacts:' (docs/rules.md) lists the e-mail addresses and phone numbers the
 * shop publishes: its bot gives them out all day, and a reply that reads "call the Leeds
 * store on [PHONE]" fails the customer. A match of a rule that says 'contacts: [emails]'
 * or '[phones]' that is one of them is not a finding of that rule. Addresses are kept
 * lower-case ("*@domain" stands for a whole domain), numbers as "CC:NSN" (country code,
 * national number). */
#define GW_CONTACT_EMAILS 1u
#define GW_CONTACT_PHONES 2u
struct gw_contacts {
    char **emails;
    size_t n_emails;
    char **phones;
    size_t n_phones;
};
/* The canonical form of an address a pack lists (name@domain.tld, or *@domain.tld for a
 * domain that is not a public mail provider's) into out; false when it is not one. */
bool gw_contact_email(const char *s, char *out, size_t cap);
/* The canonical form of a phone number a pack lists, written with its country code apart
 * ("+44 113 496 0321", "+1 (303) 555-0142": spaces, dots, dashes, slashes, brackets and a
 * trunk "(0)"), into out; false when it is not one (no "+", a country code of more than 3
 * digits or not set apart, a national number of fewer than 6 digits, one digit repeated). */
bool gw_contact_phone(const char *s, char *out, size_t cap);
/* Whether the matched text s[0, len) is one of c's contacts of the kinds given
 * (GW_CONTACT_* bits): an address (also written "name [at] domain [dot] com") equal to a
 * listed one, or at a listed domain or its subdomains, with no "%" in it; or a number whose
 * digits are exactly a listed number's in one of the ways it is dialled: with its country
 * code ("+44 113 ...", "0044 113 ..."), or national ("0113 ...", "(303) 555-0142"). */
bool gw_contacts_own(const struct gw_contacts *c, unsigned kinds, const char *s, size_t len);
/* Appends a copy of every contact of from to to; -1 when out of memory. */
int gw_contacts_add(struct gw_contacts *to, const struct gw_contacts *from);
void gw_contacts_free(struct gw_contacts *c);

#endif
