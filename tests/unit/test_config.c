/*
 * test_config.c — unit tests of the server configuration: defaults, the INI
 * file, flags overriding it, bad values and unknown keys/flags reported with
 * their file:line or flag, and the generated --help.
 *
 * Must never: depend on the working directory or leave temporary files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tmp_path[64];

/* Write `text` to a fresh temporary file; its path is in tmp_path. */
static const char *write_tmp(const char *text)
{
    strcpy(tmp_path, "/tmp/shiming-test-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return tmp_path;
}

static void remove_tmp(void)
{
    if (tmp_path[0] != '\0')
        unlink(tmp_path);
    tmp_path[0] = '\0';
}

static config_status load(config *c, int argc, char **argv, char *err, size_t errlen)
{
    return config_load(c, argc, argv, err, errlen);
}

/* ------------------------------------------------------------------ tests */

static void test_defaults(void **state)
{
    (void)state;
    config c;
    char err[256];
    char *argv[] = {"serve"};
    assert_int_equal(load(&c, ARGC(argv), argv, err, sizeof err), CONFIG_OK);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c.threads, 4 * (cpus < 1 ? 1 : (unsigned)cpus));
    assert_int_equal(c.max_body, 1024 * 1024);
    assert_int_equal(c.connection_timeout, 30);
    assert_int_equal(c.drain_timeout, 10);
    assert_string_equal(c.tls_cert, "");
    assert_string_equal(c.tls_key, "");
    assert_true(c.log_requests);
    assert_string_equal(c.config_file, "");

    config d;
    config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_file(void **state)
{
    (void)state;
    const char *path = write_tmp("; a comment\n"
                                 "# another\n"
                                 "\n"
                                 "[server]\n"
                                 "bind = ::1\n"
                                 "port = 9000\n"
                                 "threads = 3\n"
                                 "max_body = 64KiB\n"
                                 "connection_timeout = 5s\n"
                                 "drain_timeout = 2\n"
                                 "tls_cert = \"/etc/shiming/cert.pem\"\n"
                                 "tls_key = /etc/shiming/key.pem\n"
                                 "log_requests = off\n");
    config c;
    char err[512];
    char *argv[] = {"serve", "--config", (char *)path};
    assert_int_equal(load(&c, ARGC(argv), argv, err, sizeof err), CONFIG_OK);
    assert_string_equal(c.bind, "::1");
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.max_body, 64 * 1024);
    assert_int_equal(c.connection_timeout, 5);
    assert_int_equal(c.drain_timeout, 2);
    assert_string_equal(c.tls_cert, "/etc/shiming/cert.pem");
    assert_string_equal(c.tls_key, "/etc/shiming/key.pem");
    assert_false(c.log_requests);
    assert_string_equal(c.config_file, path);
    remove_tmp();
}

static void test_flags_override_file(void **state)
{
    (void)state;
    const char *path = write_tmp("[server]\nport = 9000\nbind = 0.0.0.0\nthreads = 3\n");
    config c;
    char err[512];
    /* The file is read first wherever --config appears; the last flag wins. */
    char *argv[] = {"serve", "--port", "9100", "--config=", "--threads=7",
                    "--no-log-requests", "--max-body", "2M", "--port=9200"};
    argv[3] = malloc(strlen("--config=") + strlen(path) + 1);
    strcpy(argv[3], "--config=");
    strcat(argv[3], path);
    assert_int_equal(load(&c, ARGC(argv), argv, err, sizeof err), CONFIG_OK);
    assert_int_equal(c.port, 9200);
    assert_string_equal(c.bind, "0.0.0.0"); /* from the file */
    assert_int_equal(c.threads, 7);
    assert_false(c.log_requests);
    assert_int_equal(c.max_body, 2 * 1024 * 1024);
    free(argv[3]);
    remove_tmp();
}

static void test_bool_flag_forms(void **state)
{
    (void)state;
    config c;
    char err[256];
    char *a1[] = {"serve", "--log-requests", "false"};
    assert_int_equal(load(&c, ARGC(a1), a1, err, sizeof err), CONFIG_OK);
    assert_false(c.log_requests);
    char *a2[] = {"serve", "--no-log-requests", "--log-requests"};
    assert_int_equal(load(&c, ARGC(a2), a2, err, sizeof err), CONFIG_OK);
    assert_true(c.log_requests);
    char *a3[] = {"serve", "--log-requests=no", "--port", "1"};
    assert_int_equal(load(&c, ARGC(a3), a3, err, sizeof err), CONFIG_OK);
    assert_false(c.log_requests);
    assert_int_equal(c.port, 1);
    char *a4[] = {"serve", "--threads", "auto", "--bind", "[::]"};
    assert_int_equal(load(&c, ARGC(a4), a4, err, sizeof err), CONFIG_OK);
    assert_true(c.threads >= 1);
    assert_string_equal(c.bind, "::");
    char *a5[] = {"serve", "--port", "0"};
    assert_int_equal(load(&c, ARGC(a5), a5, err, sizeof err), CONFIG_OK);
    assert_int_equal(c.port, 0);
}

/* Each bad flag is refused, and the message names the flag. */
static void test_bad_flag_values(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"--port", "70000", "--port"},
        {"--port", "80a", "--port"},
        {"--port", "-1", "--port"},
        {"--port", "", "--port"},
        {"--threads", "0", "--threads"},
        {"--threads", "many", "--threads"},
        {"--max-body", "0", "--max-body"},
        {"--max-body", "2TiB", "--max-body"},
        {"--max-body", "12 MiB", "--max-body"},
        {"--connection-timeout", "1.5", "--connection-timeout"},
        {"--drain-timeout", "10m", "--drain-timeout"},
        {"--bind", "localhost", "--bind"},
        {"--bind", "1.2.3.256", "--bind"},
        {"--log-requests=maybe", NULL, "--log-requests"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config c;
        char err[512] = "";
        char *argv[3] = {"serve", (char *)cases[i][0], (char *)cases[i][1]};
        int argc = cases[i][1] ? 3 : 2;
        config_status st = load(&c, argc, argv, err, sizeof err);
        if (st != CONFIG_ERR || strstr(err, cases[i][2]) == NULL)
            fail_msg("case %zu (%s %s): status %d, message '%s'", i, cases[i][0],
                     cases[i][1] ? cases[i][1] : "", st, err);
    }
}

static void test_usage_errors(void **state)
{
    (void)state;
    config c;
    char err[512];

    char *a1[] = {"serve", "--prot", "80"};
    assert_int_equal(load(&c, ARGC(a1), a1, err, sizeof err), CONFIG_ERR);
    assert_non_null(strstr(err, "unknown option '--prot'"));

    char *a2[] = {"serve", "--port"};
    assert_int_equal(load(&c, ARGC(a2), a2, err, sizeof err), CONFIG_ERR);
    assert_non_null(strstr(err, "--port"));
    assert_non_null(strstr(err, "needs a value"));

    char *a3[] = {"serve", "extra"};
    assert_int_equal(load(&c, ARGC(a3), a3, err, sizeof err), CONFIG_ERR);
    assert_non_null(strstr(err, "'extra'"));

    char *a4[] = {"serve", "--tls-cert", "/x/cert.pem"};
    assert_int_equal(load(&c, ARGC(a4), a4, err, sizeof err), CONFIG_ERR);
    assert_non_null(strstr(err, "tls_key"));

    char *a5[] = {"serve", "--config", "/nonexistent/shiming.ini"};
    assert_int_equal(load(&c, ARGC(a5), a5, err, sizeof err), CONFIG_ERR);
    assert_non_null(strstr(err, "/nonexistent/shiming.ini"));

    char *a6[] = {"serve", "--config"};
    assert_int_equal(load(&c, ARGC(a6), a6, err, sizeof err), CONFIG_ERR);

    char *a7[] = {"serve", "--no-port"};
    assert_int_equal(load(&c, ARGC(a7), a7, err, sizeof err), CONFIG_ERR);

    char *a8[] = {"serve", "--port", "1", "--help"};
    assert_int_equal(load(&c, ARGC(a8), a8, err, sizeof err), CONFIG_HELP);
    char *a9[] = {"serve", "-h"};
    assert_int_equal(load(&c, ARGC(a9), a9, err, sizeof err), CONFIG_HELP);
}

/* File errors name the file and the line, counting comments and blanks. */
static void expect_file_error(const char *text, int line, const char *what)
{
    const char *path = write_tmp(text);
    config c;
    char err[1024] = "";
    char *argv[] = {"serve", "--config", (char *)path};
    config_status st = load(&c, ARGC(argv), argv, err, sizeof err);
    char where[128];
    snprintf(where, sizeof where, "%s:%d:", path, line);
    if (st != CONFIG_ERR || strstr(err, where) == NULL || strstr(err, what) == NULL)
        fail_msg("want '%s ... %s', got status %d, '%s'", where, what, st, err);
    remove_tmp();
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("[server]\n; comment\n\nprot = 80\n", 4, "unknown key 'prot'");
    expect_file_error("[server]\nport = 70000\n", 2, "out of range");
    expect_file_error("[server]\nport = eighty\n", 2, "port");
    expect_file_error("[server]\nlog_requests = maybe\n", 2, "boolean");
    expect_file_error("port = 80\n", 1, "outside any section");
    expect_file_error("[server]\nport = 80\n[servre]\nbind = ::\n", 4, "unknown section [servre]");
    expect_file_error("[server]\nport 80\n", 2, "syntax error");
    expect_file_error("[server]\nport = 80\nthreads = 0\nport = 99999\n", 3, "threads");

    /* An over-long line is reported as such, and counting goes on right. */
    char text[1200];
    strcpy(text, "[server]\ntls_cert = /");
    memset(text + strlen(text), 'a', 600);
    strcpy(text + 21 + 600, "\nport = x\n");
    expect_file_error(text, 2, "too long");

    /* Later lines are counted correctly after a long (but legal) line. */
    expect_file_error("[server]\n\n\n\n\n\n\nbind = 10.0.0.1\nport = 65536\n", 9, "65535");
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    config_help(f);
    fclose(f);
    static const char *const flags[] = {
        "--config <FILE>", "--bind <address>", "--port <integer>", "--threads <integer>",
        "--max-body <bytes>", "--connection-timeout <seconds>", "--drain-timeout <seconds>",
        "--tls-cert <path>", "--tls-key <path>", "--log-requests <boolean>",
        "[server] bind", "[server] max_body", "[server] log_requests",
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strstr(buf, flags[i]) == NULL)
            fail_msg("help lacks '%s':\n%s", flags[i], buf);
    static const char *const defaults[] = {"default: 127.0.0.1\n", "default: 8080\n",
                                           "default: 1MiB\n", "default: 30\n",
                                           "default: 10\n", "default: true\n",
                                           "default: auto"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (strstr(buf, defaults[i]) == NULL)
            fail_msg("help lacks '%s':\n%s", defaults[i], buf);
    assert_non_null(strstr(buf, "[server]"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_bool_flag_forms),
        cmocka_unit_test(test_bad_flag_values),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
