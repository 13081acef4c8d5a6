/* idcard.c — placeholder until the ID-card reader lands (see idcard.h). */
#include "vision/idcard.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

const char *vx_side_code(vx_side s)
{
    return s == VX_SIDE_FRONT ? "front" : s == VX_SIDE_BACK ? "back" : "unknown";
}
const char *vx_image_status_code(vx_image_status s)
{
    static const char *const codes[] = {"normal", "reversed_side", "non_idcard", "blurred",
                                        "over_exposure", "over_dark", "other_type_card",
                                        "unknown"};
    return (unsigned)s < sizeof codes / sizeof codes[0] ? codes[s] : "unknown";
}
const char *vx_field_code(vx_field_id f)
{
    static const char *const codes[VX_F__COUNT] = {"name", "sex", "ethnicity", "birth", "address",
                                                   "id_number", "authority", "valid_from",
                                                   "valid_to"};
    return (unsigned)f < VX_F__COUNT ? codes[f] : "unknown";
}
bool vx_idcard_read(vx_ocr *o, const vx_image *img, vx_side want, vx_idcard_result *out,
                    char *err, size_t errlen)
{
    (void)o; (void)img; (void)want;
    memset(out, 0, sizeof *out);
    snprintf(err, errlen, "ID-card reading is not available in this build");
    return false;
}
void vx_idcard_result_clear(vx_idcard_result *r) { OPENSSL_cleanse(r, sizeof *r); }
