/*
 * caps.c — per-identity daily caps (tenancy_subject_take): how many calls
 * a day one ID number, or one name, may be the subject of, for a product
 * that declares caps (seed 000's provider allows 1,000 checks a day per ID
 * number and 500 per name, across all callers). They stop a caller from
 * sweeping the registry for one person, or one person from being probed
 * by many apps.
 *
 * The counters live in memory, keyed by a keyed hash of (product, kind,
 * value) — never the value itself — and start again at China midnight and
 * when the server restarts (documented in docs/dialects.md): a cap is a
 * brake on abuse, not a bill; the audit log is the record.
 *
 * Must never: keep a raw ID number or name, or grow without bound (a full
 * table refuses nothing new it cannot count: it counts in a bounded table
 * and, when full, treats an unseen identity as within its caps).
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tenancy/internal.h"

#define CAP_KEY_BYTES 16
#define CAP_SLOTS_MAX (1u << 22) /* 4M identities a day: 96 MiB at most */

typedef struct {
    uint8_t key[CAP_KEY_BYTES];
    uint32_t count;
    bool used;
} cap_slot;

struct tn_caps {
    pthread_mutex_t lock;
    int64_t day;        /* China day of the counts */
    cap_slot *slots;
    size_t n_slots;     /* power of two */
    size_t n_used;
};

tn_caps *tn_caps_new(void)
{
    tn_caps *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void tn_caps_free(tn_caps *c)
{
    if (c == NULL)
        return;
    if (c->slots != NULL) {
        OPENSSL_cleanse(c->slots, c->n_slots * sizeof *c->slots);
        free(c->slots);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static uint64_t slot_hash(const uint8_t key[CAP_KEY_BYTES])
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* already a keyed hash: uniform */
    return h;
}

/* The slot of `key` (found or free), or NULL when the table is full and
 * cannot grow. Under c->lock. */
static cap_slot *find(tn_caps *c, const uint8_t key[CAP_KEY_BYTES])
{
    if (c->n_slots == 0 || (c->n_used + 1) * 4 > c->n_slots * 3) {
        size_t n = c->n_slots ? c->n_slots * 2 : 1024;
        if (n > CAP_SLOTS_MAX)
            n = CAP_SLOTS_MAX;
        if (n > c->n_slots) {
            cap_slot *grown = calloc(n, sizeof *grown);
            if (grown != NULL) {
                for (size_t i = 0; i < c->n_slots; i++) {
                    if (!c->slots[i].used)
                        continue;
                    size_t j = slot_hash(c->slots[i].key) & (n - 1);
                    while (grown[j].used)
                        j = (j + 1) & (n - 1);
                    grown[j] = c->slots[i];
                }
                if (c->slots != NULL) {
                    OPENSSL_cleanse(c->slots, c->n_slots * sizeof *c->slots);
                    free(c->slots);
                }
                c->slots = grown;
                c->n_slots = n;
            }
        }
        if (c->n_slots == 0 || c->n_used + 1 >= c->n_slots)
            return NULL;
    }
    size_t j = slot_hash(key) & (c->n_slots - 1);
    while (c->slots[j].used && memcmp(c->slots[j].key, key, CAP_KEY_BYTES) != 0)
        j = (j + 1) & (c->n_slots - 1);
    return &c->slots[j];
}

static bool cap_key(const tenancy *t, const char *product, char kind, const char *value,
                    size_t len, uint8_t out[CAP_KEY_BYTES])
{
    char prefix[48];
    size_t n = strlen(product);
    if (n + 3 > sizeof prefix)
        return false;
    memcpy(prefix, "cap", 3);
    prefix[3] = kind;
    memcpy(prefix + 4, product, n);
    prefix[4 + n] = '\0';
    uint8_t mac[SM_HASH_BYTES];
    bool ok = sm_hmac_compute(t->subject_mac, prefix, 5 + n, value, len, mac);
    memcpy(out, mac, CAP_KEY_BYTES);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

bool tenancy_subject_take(tenancy *t, const char *product, const char *id18, const char *name,
                          size_t name_len)
{
    uint32_t per_id = 0, per_name = 0;
    tn_product_subject_caps(product, &per_id, &per_name);
    if ((per_id == 0 && per_name == 0) || t->caps == NULL)
        return true;
    uint8_t kid[CAP_KEY_BYTES], kname[CAP_KEY_BYTES];
    if (!cap_key(t, product, 'i', id18, strlen(id18), kid) ||
        !cap_key(t, product, 'n', name, name_len, kname))
        return true; /* cannot count: a brake, not a gate */
    tn_caps *c = t->caps;
    int64_t day = tn_china_day((int64_t)time(NULL));
    pthread_mutex_lock(&c->lock);
    if (day != c->day) {
        if (c->slots != NULL)
            memset(c->slots, 0, c->n_slots * sizeof *c->slots);
        c->n_used = 0;
        c->day = day;
    }
    bool within = true;
    cap_slot *si = per_id ? find(c, kid) : NULL;
    if (si != NULL && !si->used) {
        si->used = true;
        memcpy(si->key, kid, CAP_KEY_BYTES);
        c->n_used++;
    }
    cap_slot *sn = per_name ? find(c, kname) : NULL;
    if (sn != NULL && !sn->used) {
        sn->used = true;
        memcpy(sn->key, kname, CAP_KEY_BYTES);
        c->n_used++;
    }
    if ((si != NULL && si->count >= per_id) || (sn != NULL && sn->count >= per_name))
        within = false;
    if (within) {
        if (si != NULL)
            si->count++;
        if (sn != NULL)
            sn->count++;
    }
    pthread_mutex_unlock(&c->lock);
    OPENSSL_cleanse(kid, sizeof kid);
    OPENSSL_cleanse(kname, sizeof kname);
    return within;
}
