/*
 * verdict.c — the stable names of the shared verdict vocabulary
 * (sm_verdict_*), which every API dialect maps from and audit rows store.
 *
 * Must never: rename or renumber an existing verdict (stored rows and
 * clients depend on both), allocate, or consult the locale.
 */
#include "shiming/shiming.h"

#include <string.h>

/* Indexed by sm_verdict; the static assertion below keeps it in step with
 * the enum when a verdict is added. */
static const char *const codes[] = {
    [SM_VERDICT_MATCH] = "match",
    [SM_VERDICT_MISMATCH] = "mismatch",
    [SM_VERDICT_NOT_FOUND] = "not_found",
    [SM_VERDICT_INVALID_ID] = "invalid_id",
    [SM_VERDICT_INVALID_NAME] = "invalid_name",
    [SM_VERDICT_INVALID_PERIOD] = "invalid_period",
    [SM_VERDICT_REGISTRY_UNAVAILABLE] = "registry_unavailable",
    [SM_VERDICT_INVALID_IMAGE] = "invalid_image",
    [SM_VERDICT_NO_FACE] = "no_face",
    [SM_VERDICT_NOT_LIVE] = "not_live",
    [SM_VERDICT_READ] = "read",
};

_Static_assert(sizeof codes / sizeof codes[0] == SM_VERDICT__COUNT,
               "every verdict needs a stable code");

const char *sm_verdict_code(sm_verdict v)
{
    /* The enum's underlying type may be unsigned: compare as int. */
    int i = (int)v;
    if (i < 0 || i >= (int)SM_VERDICT__COUNT)
        return NULL;
    return codes[i];
}

bool sm_verdict_from_code(const char *code, sm_verdict *out)
{
    if (code == NULL)
        return false;
    for (int i = 0; i < (int)SM_VERDICT__COUNT; i++) {
        if (strcmp(code, codes[i]) == 0) {
            if (out)
                *out = (sm_verdict)i;
            return true;
        }
    }
    return false;
}
