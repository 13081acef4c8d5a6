/*
 * server_key.h — the server's secret key and the keyed hashes made with it.
 *
 * One 32-byte random key per installation, kept in a key file (hex, mode
 * 0600) created on first start. Every purpose gets its own sub-key derived
 * with HKDF-SHA256 under a fixed label, so that a hash made for one purpose
 * (say, ID numbers in the registry) is useless for another (audit rows).
 *
 * Key handling (see docs/registry.md): the database alone reveals no
 * identity, because it holds only keyed hashes; the key file is the one thing
 * that makes it usable. Back it up apart from the database; losing it makes
 * every stored hash unmatchable; a database opened with another key is
 * refused (its stored fingerprint differs).
 *
 * Thread-safety: a loaded sm_key / sm_hmac is immutable and may be shared by
 * any number of threads. Ownership: the caller owns the structs; clear them
 * with sm_key_clear / sm_hmac_clear (zeroes secrets, frees state).
 */
#ifndef SHIMING_CRYPTO_SERVER_KEY_H
#define SHIMING_CRYPTO_SERVER_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_KEY_BYTES 32
#define SM_HASH_BYTES 32

typedef struct {
    uint8_t bytes[SM_KEY_BYTES];
} sm_key;

typedef enum {
    SM_KEY_OK = 0,
    SM_KEY_ERR_IO,         /* cannot read, create or write the file */
    SM_KEY_ERR_FORMAT,     /* not 64 hex characters (plus an optional newline) */
    SM_KEY_ERR_PERMISSIONS,/* readable or writable by group/others */
    SM_KEY_ERR_RANDOM,     /* the CSPRNG failed */
} sm_key_status;

/* Load the key from `path`; if the file does not exist and `create` is true,
 * make a new random key and write it with mode 0600 (atomically: temp file,
 * fsync, rename; parent directory created if missing). *created tells which
 * happened (may be NULL). */
sm_key_status sm_key_load(const char *path, bool create, sm_key *out, bool *created,
                          char *err, size_t errlen);

/* Derive a purpose-specific sub-key: HKDF-SHA256(ikm=key, salt="shiming",
 * info=label). Labels are fixed strings such as "registry/id-number". */
bool sm_key_derive(const sm_key *key, const char *label, sm_key *out);

/* A public, non-secret fingerprint of a key (for detecting a wrong key):
 * the first 8 bytes of HMAC(key, "fingerprint"), as 16 hex characters. */
void sm_key_fingerprint(const sm_key *key, char out[17]);

void sm_key_clear(sm_key *key);

/* HMAC-SHA256 with one key, prepared once (inner and outer states
 * precomputed) so that each hash costs only the message's compressions. */
typedef struct sm_hmac sm_hmac;

sm_hmac *sm_hmac_new(const sm_key *key);
void sm_hmac_free(sm_hmac *h);

/* out = HMAC(key, part1 || part2); part2 may be NULL/0. Thread-safe. */
bool sm_hmac_compute(const sm_hmac *h, const void *part1, size_t len1, const void *part2,
                     size_t len2, uint8_t out[SM_HASH_BYTES]);

/* Lower-case hex of n bytes: 2n characters and a NUL into `out`. */
void sm_hex_encode(const uint8_t *in, size_t n, char *out);

/* Constant-time equality of two hashes. */
bool sm_hash_equal(const uint8_t a[SM_HASH_BYTES], const uint8_t b[SM_HASH_BYTES]);

#endif
