/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash for pseudonymous incident hashes.
 * The same value under the same key gives the same hash, so incidents can be correlated,
 * but without the key nobody can test a guess of the value against it. */
#ifndef GW_UTIL_SIPHASH_H
#define GW_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t gw_siphash(const uint8_t key[16], const void *data, size_t len);
/* SipHash-2-4 with its 128-bit output (the reference's vectors_sip128: out[0] holds the
 * first eight bytes, little-endian), for one pass where two 64-bit hashes would take two. */
void gw_siphash128(const uint8_t key[16], const void *data, size_t len, uint64_t out[2]);

#endif
