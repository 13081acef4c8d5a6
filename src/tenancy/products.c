/*
 * products.c — the metered products and which verdicts each one charges.
 * A dialect's product is one line in the table below.
 *
 * Must never: hold state or logic beyond the table (no I/O, no locks); a
 * verdict absent from a product's set is free.
 */
#include <string.h>

#include "tenancy/tenancy.h"

#define V(x) (1u << (x))

typedef struct {
    const char *name;
    unsigned charged;  /* bit set of sm_verdict values */
    uint32_t per_id;   /* per-identity daily caps; 0 = none */
    uint32_t per_name;
} product_def;

#define MATCH_OR_NOT (V(SM_VERDICT_MATCH) | V(SM_VERDICT_MISMATCH))

static const product_def products[] = {
    /* native /v1/verify */
    {"id2", MATCH_OR_NOT, 0, 0},
    {"id4", MATCH_OR_NOT, 0, 0},
    /* seed 000 (dialect A): /identity/idcard/check-2e; the public provider
     * allows 1,000 checks a day per ID number and 500 per name. */
    {"check2e", MATCH_OR_NOT, 1000, 500},
    /* seed 000's upstream cloud API 3.0 (dialect A): IdCardVerification,
     * CheckIdNameDate, with the same caps. */
    {"tc_idcard_verification", MATCH_OR_NOT, 1000, 500},
    {"tc_check_id_name_date", MATCH_OR_NOT, 1000, 500},
    /* seed 001 (dialect B): /idenAuthentication */
    {"iden_auth", MATCH_OR_NOT, 0, 0},
    /* seed 002 (dialect C): /idcard/idcardstatus/Submit.{json,xml} */
    {"idcardstatus", MATCH_OR_NOT | V(SM_VERDICT_NOT_FOUND), 0, 0}, /* every code 2 */
    /* ID-card OCR (api/ocr.h): "match" stands for "a card was read"; image
     * and download errors are invalid_image, free. Native /v1/ocr/idcard,
     * and seed 004 (dialect E), whose 10000 is exactly a read. */
    {"ocr_idcard", V(SM_VERDICT_READ), 0, 0},
    {"pyi_ocr", V(SM_VERDICT_READ), 0, 0},
    /* Faces and eKYC (api/face.h): "match" is passed / the same person,
     * "mismatch" a decision against; an image without a face, an image or
     * download error, a person or portrait not on file are free. Native
     * /v1/face/compare, /v1/face/verify, /v1/ekyc, and seed 003 (dialect
     * D) EkycVerify, which bills every Result.SubCode. */
    {"face_compare", MATCH_OR_NOT, 0, 0},
    {"face_verify", MATCH_OR_NOT, 0, 0},
    {"ekyc", MATCH_OR_NOT, 0, 0},
    {"ekyc_verify", MATCH_OR_NOT, 0, 0},
};

static const product_def *find(const char *product)
{
    if (product == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++)
        if (strcmp(products[i].name, product) == 0)
            return &products[i];
    return NULL;
}

bool tn_product_known(const char *product)
{
    return find(product) != NULL;
}

bool tn_product_charges(const char *product, sm_verdict v)
{
    const product_def *p = find(product);
    if (p == NULL || (unsigned)v >= SM_VERDICT__COUNT)
        return false;
    return (p->charged & V((unsigned)v)) != 0;
}

void tn_product_subject_caps(const char *product, uint32_t *per_id, uint32_t *per_name)
{
    const product_def *p = find(product);
    *per_id = p != NULL ? p->per_id : 0;
    *per_name = p != NULL ? p->per_name : 0;
}

const char *tn_product_at(size_t i)
{
    return i < sizeof products / sizeof products[0] ? products[i].name : NULL;
}
