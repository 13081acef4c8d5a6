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
    unsigned charged; /* bit set of sm_verdict values */
} product_def;

static const product_def products[] = {
    {"id2", V(SM_VERDICT_MATCH) | V(SM_VERDICT_MISMATCH)},
    {"id4", V(SM_VERDICT_MATCH) | V(SM_VERDICT_MISMATCH)},
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

const char *tn_product_at(size_t i)
{
    return i < sizeof products / sizeof products[0] ? products[i].name : NULL;
}
