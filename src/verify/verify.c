/*
 * verify.c — two- and four-element verification: the core's checks first
 * (ID number, name, validity period), then one registry lookup; the first
 * failure decides the verdict (order in verify.h).
 *
 * Must never: decide by anything but the core's rules and the registry's
 * answer, keep or log the identity it is given (the result is the caller's,
 * and verify_result_clear zeroes it), or know which API asked.
 */
#include "verify/verify.h"

#include <openssl/crypto.h>
#include <string.h>

/* The reference date: the request's, or today (China Standard Time). */
static sm_date reference_date(const verify_request *req)
{
    return req->at.year != 0 ? req->at : sm_date_today();
}

/* The checks shared by id2 and id4 up to (not including) the registry.
 * Returns false when a verdict has been reached. */
static bool check_identity(const verify_request *req, verify_result *out)
{
    sm_id_options opt;
    memset(&opt, 0, sizeof opt);
    opt.at = req->at;
    opt.strict = req->strict;
    out->id_status = sm_id_parse(req->id_number != NULL ? req->id_number : "",
                                 req->id_number != NULL ? req->id_len : 0, &opt, &out->id);
    if (out->id_status != SM_ID_OK) {
        memset(&out->id, 0, sizeof out->id); /* unspecified on failure: make it plain */
        out->verdict = SM_VERDICT_INVALID_ID;
        return false;
    }
    out->name_status = sm_name_normalise(req->name != NULL ? req->name : "",
                                         req->name != NULL ? req->name_len : 0, &out->name);
    if (out->name_status != SM_NAME_OK) {
        memset(&out->name, 0, sizeof out->name);
        out->verdict = SM_VERDICT_INVALID_NAME;
        return false;
    }
    return true;
}

/* Look the person up; false (verdict set) unless found with this name. */
static bool lookup(registry *reg, verify_result *out, reg_person *person)
{
    if (reg == NULL) {
        out->verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
        return false;
    }
    reg_status st = registry_lookup(reg, out->id.id18, out->name.text, out->name.len, person);
    if (st == REG_NOT_FOUND) {
        out->verdict = SM_VERDICT_NOT_FOUND;
        return false;
    }
    if (st != REG_OK) { /* unavailable, or anything else the store could not do */
        out->verdict = SM_VERDICT_REGISTRY_UNAVAILABLE;
        return false;
    }
    out->found = true;
    out->hukou = person->hukou;
    if (!person->name_matches) {
        out->verdict = SM_VERDICT_MISMATCH;
        return false;
    }
    return true;
}

void verify_id2(registry *reg, const verify_request *req, verify_result *out)
{
    memset(out, 0, sizeof *out);
    if (!check_identity(req, out))
        return;
    reg_person person;
    memset(&person, 0, sizeof person);
    if (lookup(reg, out, &person))
        out->verdict = SM_VERDICT_MATCH;
    OPENSSL_cleanse(&person, sizeof person);
}

/* A registry card is the one asked about when both dates are equal; a
 * long-term end date matches only a long-term card. */
static bool card_is(const reg_card *card, const sm_period *p)
{
    if (sm_date_cmp(card->valid_from, p->begin) != 0)
        return false;
    if (p->long_term || card->long_term)
        return p->long_term && card->long_term;
    return sm_date_cmp(card->valid_to, p->end) == 0;
}

void verify_id4(registry *reg, const verify_request *req, verify_result *out)
{
    memset(out, 0, sizeof *out);
    if (!check_identity(req, out))
        return;

    sm_date at = reference_date(req);
    out->period_status =
        sm_period_check(req->valid_from, req->valid_from != NULL ? req->valid_from_len : 0,
                        req->valid_to, req->valid_to != NULL ? req->valid_to_len : 0,
                        &out->id.birth, &at, &out->period);
    if (out->period_status != SM_PERIOD_OK) {
        out->verdict = SM_VERDICT_INVALID_PERIOD;
        return;
    }

    reg_person person;
    memset(&person, 0, sizeof person);
    if (lookup(reg, out, &person)) {
        out->verdict = SM_VERDICT_MISMATCH; /* unless one of the cards is this one */
        size_t n = person.n_cards <= REG_MAX_CARDS ? person.n_cards : REG_MAX_CARDS;
        for (size_t i = 0; i < n; i++) {
            if (!card_is(&person.cards[i], &out->period))
                continue;
            out->verdict = SM_VERDICT_MATCH;
            out->card_matched = true;
            out->card = person.cards[i];
            out->card_newest = i == 0;
            out->card_expired =
                !out->card.long_term && sm_date_cmp(out->card.valid_to, at) < 0;
            break;
        }
    }
    OPENSSL_cleanse(&person, sizeof person);
}

void verify_result_clear(verify_result *r)
{
    if (r != NULL)
        OPENSSL_cleanse(r, sizeof *r);
}
