/*
 * nonce.c — replay protection for signed requests (tenancy_nonce_fresh):
 * every nonce a signature scheme accepted is remembered until no request
 * carrying it could pass the scheme's timestamp window any more, and a
 * second request with it is refused.
 *
 * The entries live in memory, keyed by a SHA-256 prefix of (scheme, nonce)
 * in an open-addressing table that grows up to NONCE_SLOTS_MAX entries and
 * drops expired ones whenever it is rebuilt. A restart forgets them (the
 * timestamp window still bounds a replay to that window; docs/tenancy.md).
 *
 * Must never: grow without bound, or accept a nonce it cannot remember:
 * when the table is full of live entries a new nonce is refused (fail
 * closed) rather than let a replay through.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tenancy/internal.h"

#define NONCE_KEY_BYTES 16
#define NONCE_SLOTS_MIN 1024
#define NONCE_SLOTS_MAX (1u << 21) /* 2M nonces live at once: 48 MiB at most */

typedef struct {
    uint8_t key[NONCE_KEY_BYTES];
    int64_t expires_ms; /* 0 = empty slot */
} nonce_slot;

struct tn_nonces {
    pthread_mutex_t lock;
    nonce_slot *slots;
    size_t n_slots; /* power of two, or 0 */
    size_t n_used;  /* non-empty slots, expired ones included */
};

tn_nonces *tn_nonces_new(void)
{
    tn_nonces *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    pthread_mutex_init(&n->lock, NULL);
    return n;
}

void tn_nonces_free(tn_nonces *n)
{
    if (n == NULL)
        return;
    free(n->slots);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static size_t slot_of(const uint8_t key[NONCE_KEY_BYTES], size_t n_slots)
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h & (n_slots - 1));
}

/* Rebuild the table with `n_slots` slots, keeping the live entries. Under
 * the lock. False when out of memory (the table is left as it was). */
static bool rebuild(tn_nonces *n, size_t n_slots, int64_t now_ms)
{
    nonce_slot *fresh = calloc(n_slots, sizeof *fresh);
    if (fresh == NULL)
        return false;
    size_t used = 0;
    for (size_t i = 0; i < n->n_slots; i++) {
        const nonce_slot *s = &n->slots[i];
        if (s->expires_ms == 0 || s->expires_ms <= now_ms)
            continue;
        size_t j = slot_of(s->key, n_slots);
        while (fresh[j].expires_ms != 0)
            j = (j + 1) & (n_slots - 1);
        fresh[j] = *s;
        used++;
    }
    free(n->slots);
    n->slots = fresh;
    n->n_slots = n_slots;
    n->n_used = used;
    return true;
}

/* Make room for one more entry: at most 3/4 of the slots in use. */
static bool make_room(tn_nonces *n, int64_t now_ms)
{
    if (n->n_slots != 0 && (n->n_used + 1) * 4 <= n->n_slots * 3)
        return true;
    if (n->n_slots == 0)
        return rebuild(n, NONCE_SLOTS_MIN, now_ms);
    /* First drop the expired entries; grow only if that is not enough. */
    if (!rebuild(n, n->n_slots, now_ms))
        return false;
    if ((n->n_used + 1) * 2 <= n->n_slots)
        return true;
    if (n->n_slots >= NONCE_SLOTS_MAX)
        return (n->n_used + 1) * 4 <= n->n_slots * 3;
    return rebuild(n, n->n_slots * 2, now_ms);
}

bool tenancy_nonce_fresh(tenancy *t, const char *scheme, const char *nonce, int64_t now_ms,
                         int64_t window_ms)
{
    if (t == NULL || t->nonces == NULL || scheme == NULL || nonce == NULL || nonce[0] == '\0' ||
        window_ms <= 0)
        return false;
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, scheme, strlen(scheme) + 1) == 1 && /* with its NUL */
              EVP_DigestUpdate(md, nonce, strlen(nonce)) == 1 &&
              EVP_DigestFinal_ex(md, digest, &dlen) == 1 && dlen >= NONCE_KEY_BYTES;
    EVP_MD_CTX_free(md);
    if (!ok)
        return false;
    uint8_t key[NONCE_KEY_BYTES];
    memcpy(key, digest, sizeof key);

    /* A request is accepted while |timestamp - now| <= window: one sent
     * with the same timestamp may still arrive up to 2 windows after this
     * one, so the nonce is remembered that long. */
    int64_t expires = now_ms + 2 * window_ms;
    tn_nonces *n = t->nonces;
    bool fresh = false;
    pthread_mutex_lock(&n->lock);
    if (make_room(n, now_ms)) {
        size_t mask = n->n_slots - 1;
        size_t j = slot_of(key, n->n_slots);
        nonce_slot *reuse = NULL; /* the first expired slot of the chain */
        nonce_slot *found = NULL;
        while (n->slots[j].expires_ms != 0) {
            nonce_slot *s = &n->slots[j];
            if (memcmp(s->key, key, sizeof key) == 0) {
                found = s;
                break;
            }
            if (reuse == NULL && s->expires_ms <= now_ms)
                reuse = s;
            j = (j + 1) & mask;
        }
        if (found != NULL) {
            fresh = found->expires_ms <= now_ms; /* seen, but long ago */
            if (fresh)
                found->expires_ms = expires;
        } else {
            nonce_slot *s = reuse != NULL ? reuse : &n->slots[j];
            if (reuse == NULL)
                n->n_used++;
            memcpy(s->key, key, sizeof key);
            s->expires_ms = expires;
            fresh = true;
        }
    }
    pthread_mutex_unlock(&n->lock);
    return fresh;
}
