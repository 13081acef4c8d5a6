/*
 * verify.h — the decisions: two-element (name + ID number) and four-element
 * (name + ID number + validity period) verification against the registry.
 *
 * This is where the core's rules and the registry meet; it produces one
 * sm_verdict plus the facts behind it. The native API and every vendor
 * dialect call these functions and only translate the result: no dialect
 * decides anything itself, and nothing here knows which API asked.
 *
 * Order of checks (the first failure decides): ID number (invalid_id), name
 * (invalid_name), validity period for id4 (invalid_period), then the
 * registry: unavailable → registry_unavailable; no such number →
 * not_found; name differs → mismatch; id4 only: no card with exactly these
 * dates → mismatch; else match.
 *
 * Thread-safe (the registry is). Inputs are borrowed; the result is plain
 * data owned by the caller, and holds the normalised name and number: clear
 * it with verify_result_clear when done.
 */
#ifndef SHIMING_VERIFY_H
#define SHIMING_VERIFY_H

#include <shiming/shiming.h>

#include "registry/registry.h"

typedef struct {
    const char *name;
    size_t name_len;
    const char *id_number;
    size_t id_len;
    /* id4 only: "YYYYMMDD"; valid_to may be "00000000" or "长期". */
    const char *valid_from;
    size_t valid_from_len;
    const char *valid_to;
    size_t valid_to_len;
    sm_date at;          /* reference date; {0} = today */
    bool strict;         /* strict region codes */
} verify_request;

typedef struct {
    sm_verdict verdict;

    sm_id_status id_status;     /* id fields below valid when SM_ID_OK */
    sm_id_info id;
    sm_name_status name_status; /* name valid when SM_NAME_OK */
    sm_name name;
    sm_period_status period_status; /* id4: period valid when SM_PERIOD_OK */
    sm_period period;

    /* From the registry, when the person was found: */
    bool found;
    reg_hukou hukou;
    /* id4 on match: the matched card and what is true of it. */
    bool card_matched;
    reg_card card;
    bool card_newest;           /* it is the person's newest card */
    bool card_expired;          /* its end date is before the reference date */
} verify_result;

void verify_id2(registry *reg, const verify_request *req, verify_result *out);
void verify_id4(registry *reg, const verify_request *req, verify_result *out);

/* Zero the result (it holds identity data). */
void verify_result_clear(verify_result *r);

#endif
