/*
 * envelope.h — field encryption of dialect A (seed 000, docs/dialects.md):
 * the server's key pairs that clients wrap a per-request symmetric key
 * with, and the ciphers that open the fields they encrypted.
 *
 *   AES-256-CBC (PKCS#7): the 32-byte key wrapped with RSA-OAEP, SHA-256 as
 *     the OAEP hash and the MGF1 hash; every listed field uses `iv` (16 B).
 *   SM4-GCM (no AAD, 16-byte tags): the 16-byte key wrapped with SM2
 *     encryption (GB/T 32918.4, the DER C1C3C2 form OpenSSL writes); field
 *     number i of encrypt_list (0-based) uses the nonce `iv` (12 B) with its
 *     last four bytes, read as a big-endian counter, plus i (mod 2^32), so
 *     that no two fields share a nonce under one key.
 *
 * OpenSSL 3.0 has SM4 but no SM4-GCM: sm4_gcm_* build it from the SM4 block
 * cipher (EVP "SM4-ECB") and a GHASH of their own (NIST SP 800-38D; the
 * RFC 8998 test vector is in tests/unit/test_envelope.c).
 *
 * Key files: PEM (PKCS#8, unencrypted), mode 0600, created on first start
 * (RSA 2048, SM2) when missing and never replaced; a file readable by group
 * or others is refused.
 *
 * Thread-safety: a loaded envelope_keys is immutable: any number of threads
 * may unwrap with it at once. The cipher functions keep no state.
 * Ownership: envelope_keys_load's result belongs to the caller
 * (envelope_keys_free); the strings it hands out live as long as it does.
 * Must never: log, print or put key material or plaintext in an error;
 * leave a secret in memory it frees (OPENSSL_cleanse).
 */
#ifndef SHIMING_CRYPTO_ENVELOPE_H
#define SHIMING_CRYPTO_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_KEY_MAX 32      /* AES-256 key; SM4 keys are 16 bytes */
#define ENVELOPE_TAG_BYTES 16
#define ENVELOPE_GCM_IV_BYTES 12
#define ENVELOPE_CBC_IV_BYTES 16

typedef enum {
    ENVELOPE_AES_256_CBC = 0, /* key wrapped with RSA-OAEP-SHA256 */
    ENVELOPE_SM4_GCM,         /* key wrapped with SM2 */
    ENVELOPE__COUNT
} envelope_alg;

/* "AES-256-CBC", "SM4-GCM". */
const char *envelope_alg_name(envelope_alg a);
/* Exact, case-sensitive names as above. */
bool envelope_alg_from_name(const char *name, envelope_alg *out);
/* "RSA-OAEP-SHA256", "SM2": how the key of `a` is wrapped. */
const char *envelope_wrap_name(envelope_alg a);
/* Symmetric key length (32, 16), IV length (16, 12). */
size_t envelope_key_len(envelope_alg a);
size_t envelope_iv_len(envelope_alg a);

typedef struct envelope_keys envelope_keys;

/* Load the two key pairs; when a file is missing and `create` is true, a
 * new key pair is generated and written there (mode 0600, parent
 * directories created). *created (may be NULL) tells whether any file was
 * created. NULL on failure, `err` saying why (file names, never keys). */
envelope_keys *envelope_keys_load(const char *rsa_path, const char *sm2_path, bool create,
                                  bool *created, char *err, size_t errlen);
void envelope_keys_free(envelope_keys *k);

/* The default key file `name` next to the server key `key_file`, into
 * out[cap]: false when it does not fit. */
bool envelope_default_path(const char *key_file, const char *name, char *out, size_t cap);

/* The public key of algorithm `a` as PEM (SubjectPublicKeyInfo), and its
 * fingerprint: lower-case hex SHA-256 of the DER SubjectPublicKeyInfo
 * (64 characters). Borrowed from `k`. */
const char *envelope_public_pem(const envelope_keys *k, envelope_alg a);
const char *envelope_fingerprint(const envelope_keys *k, envelope_alg a);

/* Unwrap the symmetric key of algorithm `a` from `blob` with the private
 * key; it must be exactly envelope_key_len(a) bytes. False when it cannot
 * be opened (another public key, a tampered blob, a wrong length); key is
 * then zeroed. */
bool envelope_unwrap(const envelope_keys *k, envelope_alg a, const uint8_t *blob, size_t len,
                     uint8_t key[ENVELOPE_KEY_MAX]);

typedef enum {
    ENVELOPE_OPEN_OK = 0,
    ENVELOPE_OPEN_BAD,    /* wrong key, tampered tag or ciphertext, bad padding */
    ENVELOPE_OPEN_NOMEM,
} envelope_open_status;

/* Decrypt field number `index` of encrypt_list: `tag` (16 bytes) is used by
 * SM4-GCM only. On OK *out is malloc'ed, NUL-terminated, *out_len bytes
 * without the NUL: OPENSSL_cleanse and free it. */
envelope_open_status envelope_open_field(envelope_alg a, const uint8_t *key, const uint8_t *iv,
                                         size_t index, const uint8_t *ct, size_t ct_len,
                                         const uint8_t *tag, uint8_t **out, size_t *out_len);

/* The inverse (for answers that would carry sensitive fields, and for
 * tests): *out malloc'ed (ciphertext), tag filled for SM4-GCM. */
bool envelope_seal_field(envelope_alg a, const uint8_t *key, const uint8_t *iv, size_t index,
                         const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
                         uint8_t tag[ENVELOPE_TAG_BYTES]);

/* SM4-GCM with a 96-bit IV and a 128-bit tag. `out` holds len bytes (it
 * may be `in`). decrypt returns false, with out zeroed, when the tag does
 * not match (compared with CRYPTO_memcmp). */
bool sm4_gcm_encrypt(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                     uint8_t tag[16]);
bool sm4_gcm_decrypt(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                     const uint8_t tag[16]);

#endif
