/*
 * cmd_ekyc.c — `shiming ekyc --doc FILE --face FILE [--doc-type T]
 * [--name N] [--id-number X] [--authorize --db PATH [--key-file PATH]]
 * [--models-dir DIR] [--json]`: the eKYC decision of POST /v1/ekyc on the
 * operator's own files, with the same pipeline (api/face.h
 * face_call_decide) on this thread: the document read (mainland ID), its
 * anti-spoofing signals, the selfie's liveness, selfie vs the document's
 * portrait, and with --authorize the registry (name + number and its
 * portrait).
 *
 * Exit status: 0 passed, 1 not passed or a failure (a file missing, not an
 * image, no face, models not loaded, registry not openable), 2 a usage error.
 *
 * Must never: write anything but to stdout/stderr, or keep an image, an
 * embedding or a field unzeroed after use.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "api/face.h"
#include "api/routes.h"
#include "cli/commands.h"
#include "crypto/server_key.h"
#include "registry/registry.h"
#include "vision/face.h"
#include "vision/idcard.h"
#include "vision/image.h"
#include "vision/ocr.h"
#include "vision/runtime.h"

#define PROG "shiming ekyc"
#define FILE_MAX (64u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shiming ekyc --doc FILE --face FILE [--doc-type 00000001] [--name NAME]\n"
            "                    [--id-number ID] [--authorize --db PATH [--key-file PATH]]\n"
            "                    [--models-dir DIR] [--json]\n"
            "\n"
            "The eKYC decision of POST /v1/ekyc on local files: the document (--doc; a\n"
            "mainland ID card is read by OCR), the selfie (--face): document anti-spoofing,\n"
            "the selfie's liveness, selfie vs the document's portrait; with --authorize the\n"
            "registry (--db, its server key --key-file, default var/server.key): name and\n"
            "number (given, else read off the card) and the registry portrait.\n"
            "Exit status: 0 passed, 1 not passed or failed, 2 usage error.\n");
}

static json_t *num_or_null(double v, double unit)
{
    return v < 0 ? json_null() : json_real((double)(long long)(v / unit + 0.5) * unit);
}

static const char *registry_code(sm_verdict v)
{
    switch (v) {
    case SM_VERDICT_MATCH: return "match";
    case SM_VERDICT_MISMATCH: return "mismatch";
    case SM_VERDICT_NOT_FOUND: return "not_found";
    default: return "unavailable";
    }
}

static void print_result(const face_result *r, bool as_json)
{
    if (as_json) {
        json_t *reasons = json_array();
        for (size_t i = 0; i < r->n_reasons; i++)
            json_array_append_new(reasons, json_string(r->reasons[i]));
        json_t *fields = json_object();
        if (r->doc_supported)
            for (int f = 0; f < VX_F__COUNT; f++)
                json_object_set_new(fields, vx_field_code((vx_field_id)f),
                                    r->card.fields[f].present
                                        ? json_string(r->card.fields[f].text)
                                        : json_null());
        json_t *o = json_pack(
            "{s:b,s:i,s:o,s:{s:o,s:b,s:o},s:{s:b,s:o,s:o,s:{s:b,s:o}},s:{s:b,s:o,s:b,s:o}}",
            "passed", r->passed, "subcode", r->subcode, "reasons", reasons, "face", "score",
            num_or_null(r->score, 0.01), "live", r->live, "liveness",
            num_or_null(r->faces[1].liveness, 0.0001), "document", "supported",
            r->doc_supported, "image_status",
            r->doc_supported ? json_string(vx_image_status_code(r->card.status)) : json_null(),
            "fields", fields, "spoof", "risk", r->doc_spoof, "type",
            r->doc_spoof_type ? json_string(r->doc_spoof_type) : json_null(), "registry",
            "checked", r->registry_checked, "verdict",
            r->registry_checked ? json_string(registry_code(r->registry_verdict)) : json_null(),
            "portrait", r->registry_portrait, "score", num_or_null(r->authority_score, 0.01));
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
        if (text != NULL) {
            printf("%s\n", text);
            OPENSSL_cleanse(text, strlen(text));
            free(text);
        }
        json_decref(o);
        return;
    }
    printf("%s (subcode %d)\n", r->passed ? "passed" : "not passed", r->subcode);
    for (size_t i = 0; i < r->n_reasons; i++)
        printf("  reason: %s\n", r->reasons[i]);
    if (r->score >= 0)
        printf("  selfie vs document portrait: %.2f (threshold %.0f)\n", r->score,
               VX_FACE_SAME_SCORE);
    else
        printf("  selfie vs document portrait: no face on the document\n");
    printf("  selfie liveness: %.4f (%s)\n", (double)r->faces[1].liveness,
           r->live ? "live" : "risk");
    printf("  document: %s", r->doc_supported ? "mainland ID" : "not read (unsupported type)");
    if (r->doc_supported)
        printf(", image_status %s", vx_image_status_code(r->card.status));
    printf(", spoof %s\n", r->doc_spoof_type ? r->doc_spoof_type : "none");
    if (r->registry_checked) {
        printf("  registry: %s, portrait %s", registry_code(r->registry_verdict),
               r->registry_portrait ? "on file" : "none");
        if (r->authority_score >= 0)
            printf(", score %.2f", r->authority_score);
        printf("\n");
    }
}

int cmd_ekyc(int argc, char **argv)
{
    const char *doc = NULL, *face = NULL, *name = NULL, *id = NULL, *db = NULL;
    const char *key_file = "var/server.key", *dir = "deps/models", *doc_type = "00000001";
    bool as_json = false, authorize = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (strcmp(a, "--authorize") == 0) {
            authorize = true;
            continue;
        }
        const char **slot = strcmp(a, "--doc") == 0          ? &doc
                            : strcmp(a, "--face") == 0       ? &face
                            : strcmp(a, "--name") == 0       ? &name
                            : strcmp(a, "--id-number") == 0  ? &id
                            : strcmp(a, "--db") == 0         ? &db
                            : strcmp(a, "--key-file") == 0   ? &key_file
                            : strcmp(a, "--models-dir") == 0 ? &dir
                            : strcmp(a, "--doc-type") == 0   ? &doc_type
                                                             : NULL;
        if (slot == NULL) {
            fprintf(stderr, PROG ": unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, PROG ": %s needs a value\n", a);
            return 2;
        }
        *slot = argv[++i];
    }
    if (doc == NULL || face == NULL) {
        fprintf(stderr, PROG ": --doc and --face are required\n");
        usage(stderr);
        return 2;
    }
    bool digits = strlen(doc_type) == 8;
    for (size_t i = 0; digits && i < 8; i++)
        digits = doc_type[i] >= '0' && doc_type[i] <= '9';
    if (!digits) {
        fprintf(stderr, PROG ": --doc-type must be 8 digits (00000001: mainland ID card)\n");
        return 2;
    }
    bool mainland = strcmp(doc_type, "00000001") == 0;
    if (authorize && (!mainland || db == NULL)) {
        fprintf(stderr, PROG ": --authorize needs --db (and a mainland ID, doc type 00000001)\n");
        return 2;
    }
    face_call_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.kind = FACE_CALL_EKYC;
    spec.authorize = authorize;
    spec.doc_mainland_id = mainland;
    if (id != NULL) {
        sm_id_info info;
        sm_id_status st = sm_id_parse(id, strlen(id), NULL, &info);
        if (st != SM_ID_OK) {
            fprintf(stderr, PROG ": --id-number is not a valid ID number (%s)\n",
                    sm_id_status_code(st));
            return 2;
        }
        memcpy(spec.id18, info.id18, 19);
        OPENSSL_cleanse(&info, sizeof info);
    }
    if (name != NULL) {
        sm_name nm;
        sm_name_status st = sm_name_normalise(name, strlen(name), &nm);
        if (st != SM_NAME_OK) {
            fprintf(stderr, PROG ": --name is not a valid name (%s)\n", sm_name_status_code(st));
            return 2;
        }
        if (nm.len >= sizeof spec.name) {
            fprintf(stderr, PROG ": --name is too long\n");
            return 2;
        }
        memcpy(spec.name, nm.text, nm.len + 1);
        OPENSSL_cleanse(&nm, sizeof nm);
    }
    const char *paths[2] = {doc, face};
    for (int i = 0; i < 2; i++) {
        spec.images[i].bytes = read_whole_file(paths[i], FILE_MAX, &spec.images[i].len);
        if (spec.images[i].bytes == NULL) {
            fprintf(stderr, PROG ": %s: %s\n", paths[i], strerror(errno));
            for (int k = 0; k < i; k++) {
                OPENSSL_cleanse(spec.images[k].bytes, spec.images[k].len);
                free(spec.images[k].bytes);
            }
            return 1;
        }
    }

    int rc = 1;
    char err[1536] = "";
    vx_runtime *rt = NULL;
    vx_ocr *ocr = NULL;
    vx_face *fe = NULL;
    registry *reg = NULL;
    api_context ctx;
    if (!vx_image_init(err, sizeof err)) {
        fprintf(stderr, PROG ": cannot decode images: %s\n", err);
        goto out;
    }
    vx_runtime_options ro = {0};
    rt = vx_runtime_open(&ro, err, sizeof err);
    if (rt == NULL) {
        fprintf(stderr, PROG ": %s\n", err);
        goto out;
    }
    fe = vx_face_open_dir(rt, dir, err, sizeof err);
    if (fe == NULL) {
        fprintf(stderr, PROG ": cannot load the face models from %s: %s\n", dir, err);
        goto out;
    }
    if (mainland) {
        char det[4096], rec[4096], cls[4096], keys[4096];
        snprintf(det, sizeof det, "%s/ch_PP-OCRv4_det_infer.onnx", dir);
        snprintf(rec, sizeof rec, "%s/ch_PP-OCRv4_rec_infer.onnx", dir);
        snprintf(cls, sizeof cls, "%s/ch_ppocr_mobile_v2.0_cls_infer.onnx", dir);
        snprintf(keys, sizeof keys, "%s/ppocr_keys_v1.txt", dir);
        vx_ocr_models m = {det, rec, cls, keys};
        ocr = vx_ocr_open(rt, &m, err, sizeof err);
        if (ocr == NULL) {
            fprintf(stderr, PROG ": cannot load the OCR models from %s: %s\n", dir, err);
            goto out;
        }
    }
    if (authorize) {
        sm_key key;
        bool created = false;
        if (sm_key_load(key_file, false, &key, &created, err, sizeof err) != SM_KEY_OK) {
            fprintf(stderr, PROG ": %s\n", err);
            goto out;
        }
        reg_options rop = {.path = db, .key = &key, .read_only = true, .readers = 1};
        reg_status st = registry_open(&rop, &reg, err, sizeof err);
        sm_key_clear(&key);
        if (st != REG_OK) {
            /* An unreadable registry is the call's 209, as on the server. */
            fprintf(stderr, PROG ": the registry cannot be opened: %s\n",
                    err[0] ? err : reg_status_message(st));
            reg = NULL;
        }
    }
    api_context_init(&ctx, reg, NULL);
    reg = NULL; /* the context's now */
    ctx.face = fe;
    ctx.ocr = ocr;
    face_result r;
    memset(&r, 0, sizeof r);
    face_call_decide(&ctx, &spec, &r, NULL);
    if (r.outcome != FACE_OK) {
        fprintf(stderr, PROG ": %s: %s (%s)\n", r.bad_image == 0 ? doc : face,
                face_outcome_message(r.outcome), face_outcome_code(r.outcome));
    } else {
        print_result(&r, as_json);
        rc = r.passed ? 0 : 1;
    }
    vx_face_result_clear(&r.faces[0]);
    vx_face_result_clear(&r.faces[1]);
    vx_idcard_result_clear(&r.card);
    OPENSSL_cleanse(&r, sizeof r);
    api_context_destroy(&ctx);
out:
    for (int i = 0; i < 2; i++)
        if (spec.images[i].bytes != NULL) {
            OPENSSL_cleanse(spec.images[i].bytes, spec.images[i].len);
            free(spec.images[i].bytes);
        }
    OPENSSL_cleanse(&spec, sizeof spec);
    vx_ocr_close(ocr);
    if (fe != NULL)
        vx_face_close(fe);
    vx_runtime_close(rt);
    return rc;
}
