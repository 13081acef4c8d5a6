/*
 * commands.h — the sub-commands of the `shiming` binary.
 *
 * Each takes the arguments after its own name (argv[0] is the sub-command's
 * name, as getopt expects) and returns the process exit status: 0 success,
 * 1 a negative answer or runtime failure, 2 a usage error. None calls exit().
 */
#ifndef SHIMING_CLI_COMMANDS_H
#define SHIMING_CLI_COMMANDS_H

/* shiming idcard check [--json] [--at YYYY-MM-DD] [--strict] ID... */
int cmd_idcard(int argc, char **argv);

/* shiming serve [--config FILE] [--bind ADDR] [--port N] ... */
int cmd_serve(int argc, char **argv);

/* shiming registry import|stats|delete [--config FILE] [--db PATH] [--key-file PATH] ... */
int cmd_registry(int argc, char **argv);

/* shiming demo-data --count N --seed S --out DIR */
int cmd_demo_data(int argc, char **argv);

/* shiming app create|list|show|freeze|disable|unfreeze|set ... */
int cmd_app(int argc, char **argv);
/* shiming cred add APP KIND */
int cmd_cred(int argc, char **argv);
/* shiming package add APP PRODUCT --total N [--expires DATE] */
int cmd_package(int argc, char **argv);
/* shiming keys show [--json]: dialect A's public envelope keys (cmd_keys.c) */
int cmd_keys(int argc, char **argv);
/* shiming usage [APP] */
int cmd_usage(int argc, char **argv);
/* shiming audit verify|export|purge */
int cmd_audit(int argc, char **argv);
/* shiming ocr idcard [--json] [--side front|back] FILE... (cmd_ocr_idcard.c; argv[0] is
 * "idcard": `shiming ocr` dispatches to it) */
int cmd_ocr_idcard(int argc, char **argv);
/* shiming ocr lines [--json] FILE...: the text lines of images (cmd_ocr.c) */
int cmd_ocr(int argc, char **argv);
/* shiming face compare [--json] [--models-dir DIR] A B (cmd_face.c; exit 0 same person,
 * 1 not, 2 usage or models missing, 3 an image unreadable or without a face) */
int cmd_face(int argc, char **argv);
/* shiming ekyc --doc FILE --face FILE [...]: the eKYC decision on local files (cmd_ekyc.c) */
int cmd_ekyc(int argc, char **argv);

#endif
