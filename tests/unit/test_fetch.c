/*
 * test_fetch.c — unit tests for URL fetching (src/net/fetch.c) and its
 * address rules (src/net/cidr.c): a small HTTP server on 127.0.0.1 (a
 * thread of this test) serves bodies, redirects, errors and a slow answer;
 * the fetches are made with loopback allowlisted or not.
 *
 * Covered: allowlisted fetch works; loopback without the allowlist is
 * FETCH_FORBIDDEN; a redirect from the allowed host to 169.254.169.254 (the
 * cloud metadata address) or to ::1 is refused; a redirect to another
 * scheme is refused; too many redirects; too large (with and without a
 * Content-Length); timeout; 404; bad URLs; the SSRF classes address by
 * address, IPv6 forms embedding IPv4 included.
 *
 * Must never: reach outside the machine (every address is loopback, or one
 * the guard refuses before connecting), or leave its server thread behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/cidr.h"
#include "net/fetch.h"

/* ------------------------------------------------------- the HTTP server */

static int listen_fd = -1;
static unsigned port;
static pthread_t server_thread;
static atomic_bool stopping;

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const char *path)
{
    char head[512];
    static char big[5000];
    memset(big, 'x', sizeof big);
    if (strcmp(path, "/ok") == 0) {
        const char *b = "hello image";
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(b), b);
        send_all(fd, head, (size_t)n);
    } else if (strcmp(path, "/big") == 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         sizeof big);
        send_all(fd, head, (size_t)n);
        send_all(fd, big, sizeof big);
    } else if (strcmp(path, "/big-nolen") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        send_all(fd, h, strlen(h));
        send_all(fd, big, sizeof big);
    } else if (strcmp(path, "/slow") == 0) {
        for (int i = 0; i < 20 && !atomic_load(&stopping); i++)
            usleep(50000);
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        send_all(fd, h, strlen(h));
    } else if (strncmp(path, "/redirect?", 10) == 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n",
                         path + 10);
        send_all(fd, head, (size_t)n);
    } else {
        const char *h = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
        send_all(fd, h, strlen(h));
    }
}

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping)) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        char req[2048];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL)
                break;
        }
        req[n] = '\0';
        char path[1024] = "";
        sscanf(req, "GET %1023s", path);
        respond(fd, path);
        close(fd);
    }
    return NULL;
}

static int server_up(void **state)
{
    (void)state;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    port = ntohs(a.sin_port);
    atomic_store(&stopping, false);
    return pthread_create(&server_thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    atomic_store(&stopping, true);
    shutdown(listen_fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(server_thread, NULL);
    close(listen_fd);
    return 0;
}

static const fetch_options allow_loopback = {.allow_cidrs = "127.0.0.1/32"};

static fetch_status get(const char *path, const fetch_options *opt, char **body, size_t *len)
{
    char url[1100];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    return fetch_url(url, opt, body, len);
}

/* ------------------------------------------------------------------ tests */

static void test_allowlisted_fetch_works(void **state)
{
    (void)state;
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get("/ok", &allow_loopback, &body, &len), FETCH_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(body, "hello image", 11);
    free(body);
    /* a redirect that stays on the allowed host */
    char path[256];
    snprintf(path, sizeof path, "/redirect?http://127.0.0.1:%u/ok", port);
    assert_int_equal(get(path, &allow_loopback, &body, &len), FETCH_OK);
    assert_int_equal(len, 11);
    free(body);
    /* a whole network allowlisted, among others */
    fetch_options wide = {.allow_cidrs = "10.0.0.0/8, 127.0.0.0/8"};
    assert_int_equal(get("/ok", &wide, &body, &len), FETCH_OK);
    free(body);
}

static void test_loopback_forbidden_without_allowlist(void **state)
{
    (void)state;
    char *body = (char *)1;
    size_t len = 1;
    assert_int_equal(get("/ok", NULL, &body, &len), FETCH_FORBIDDEN);
    assert_null(body);
    assert_int_equal(len, 0);
    fetch_options other = {.allow_cidrs = "10.0.0.0/8,127.0.0.2/32"};
    assert_int_equal(get("/ok", &other, &body, &len), FETCH_FORBIDDEN);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%u/ok", port);
    assert_int_equal(fetch_url(url, NULL, &body, &len), FETCH_FORBIDDEN);
    snprintf(url, sizeof url, "http://[::1]:%u/ok", port);
    assert_int_equal(fetch_url(url, NULL, &body, &len), FETCH_FORBIDDEN);
    snprintf(url, sizeof url, "http://0.0.0.0:%u/ok", port);
    assert_int_equal(fetch_url(url, NULL, &body, &len), FETCH_FORBIDDEN);
    /* decimal and IPv4-mapped spellings of loopback */
    snprintf(url, sizeof url, "http://2130706433:%u/ok", port);
    assert_int_equal(fetch_url(url, NULL, &body, &len), FETCH_FORBIDDEN);
    snprintf(url, sizeof url, "http://[::ffff:127.0.0.1]:%u/ok", port);
    assert_int_equal(fetch_url(url, NULL, &body, &len), FETCH_FORBIDDEN);
}

static void test_redirect_to_metadata_refused(void **state)
{
    (void)state;
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get("/redirect?http://169.254.169.254/latest/meta-data/", &allow_loopback,
                         &body, &len),
                     FETCH_FORBIDDEN);
    assert_null(body);
    char path[256];
    snprintf(path, sizeof path, "/redirect?http://[::1]:%u/ok", port);
    assert_int_equal(get(path, &allow_loopback, &body, &len), FETCH_FORBIDDEN);
    assert_int_equal(get("/redirect?http://10.1.2.3/x", &allow_loopback, &body, &len),
                     FETCH_FORBIDDEN);
    snprintf(path, sizeof path, "/redirect?ftp://127.0.0.1:%u/ok", port);
    assert_int_equal(get(path, &allow_loopback, &body, &len), FETCH_FORBIDDEN);
    assert_int_equal(get("/redirect?file:///etc/passwd", &allow_loopback, &body, &len),
                     FETCH_FORBIDDEN);
}

/* Prefix `p` (a path) with one more redirect hop to it. */
static void add_hop(char *p, size_t cap)
{
    char next[2048];
    int n = snprintf(next, sizeof next, "/redirect?http://127.0.0.1:%u%s", port, p);
    assert_true(n > 0 && (size_t)n < cap);
    memcpy(p, next, (size_t)n + 1);
}

static void test_too_many_redirects(void **state)
{
    (void)state;
    /* four hops: /redirect → /redirect → /redirect → /redirect → /ok */
    char p4[1024] = "/ok";
    for (int i = 0; i < 4; i++)
        add_hop(p4, sizeof p4);
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get(p4, &allow_loopback, &body, &len), FETCH_FAILED);
    /* three hops are fine */
    char p3[1024] = "/ok";
    for (int i = 0; i < 3; i++)
        add_hop(p3, sizeof p3);
    assert_int_equal(get(p3, &allow_loopback, &body, &len), FETCH_OK);
    free(body);
}

static void test_too_large(void **state)
{
    (void)state;
    fetch_options small = {.allow_cidrs = "127.0.0.1", .max_bytes = 4096};
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get("/big", &small, &body, &len), FETCH_TOO_LARGE);
    assert_null(body);
    assert_int_equal(get("/big-nolen", &small, &body, &len), FETCH_TOO_LARGE);
    assert_null(body);
    small.max_bytes = 5000; /* exactly the size: fine */
    assert_int_equal(get("/big-nolen", &small, &body, &len), FETCH_OK);
    assert_int_equal(len, 5000);
    free(body);
}

static void test_not_found(void **state)
{
    (void)state;
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get("/nothing-here", &allow_loopback, &body, &len), FETCH_HTTP_STATUS);
    assert_null(body);
}

static void test_timeout(void **state)
{
    (void)state;
    fetch_options quick = {.allow_cidrs = "127.0.0.1/32", .total_ms = 300};
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(get("/slow", &quick, &body, &len), FETCH_TIMEOUT);
    assert_null(body);
}

static void test_bad_urls(void **state)
{
    (void)state;
    char *body = NULL;
    size_t len = 0;
    const char *bad[] = {"", "ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://x/",
                         "127.0.0.1/ok", "http://", "http:// spaced.example/", "javascript:alert(1)",
                         "data:image/png;base64,AAAA", "http://exa\nmple.com/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fetch_url(bad[i], NULL, &body, &len), FETCH_BAD_URL);
    char longurl[1100];
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "http://x.example/", 17);
    longurl[sizeof longurl - 1] = '\0';
    assert_int_equal(fetch_url(longurl, NULL, &body, &len), FETCH_BAD_URL);
    assert_int_equal(fetch_url(NULL, NULL, &body, &len), FETCH_BAD_URL);
    assert_string_equal(fetch_status_code(FETCH_FORBIDDEN), "forbidden");
    assert_string_equal(fetch_status_code(FETCH_TOO_LARGE), "too_large");
}

static void test_address_classes(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        bool internal;
    } cases[] = {
        {"127.0.0.1", true},       {"127.255.0.9", true},    {"10.0.0.1", true},
        {"172.16.0.1", true},      {"172.31.255.255", true}, {"172.32.0.1", false},
        {"192.168.1.1", true},     {"100.64.0.1", true},     {"100.127.255.254", true},
        {"100.128.0.1", false},    {"169.254.169.254", true}, {"0.0.0.0", true},
        {"224.0.0.1", true},       {"239.255.255.250", true}, {"255.255.255.255", true},
        {"8.8.8.8", false},        {"1.1.1.1", false},       {"203.0.113.9", false},
        {"::", true},              {"::1", true},            {"fe80::1", true},
        {"febf::1", true},         {"fc00::1", true},        {"fd12:3456::1", true},
        {"ff02::1", true},         {"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true},
        {"::ffff:8.8.8.8", false}, {"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::808:808", false},
        {"2002:a9fe:a9fe::1", true}, {"2002:808:808::1", false}, {"::127.0.0.1", true},
        {"2001:4860:4860::8888", false}, {"fec0::1", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t a[16];
        assert_true(net_addr_parse(cases[i].addr, a));
        const char *why = NULL;
        bool got = net_addr_is_internal(a, &why);
        if (got != cases[i].internal)
            fail_msg("%s: expected %s", cases[i].addr, cases[i].internal ? "internal" : "public");
        if (got)
            assert_non_null(why);
    }
}

static void test_cidr_lists(void **state)
{
    (void)state;
    char err[128];
    assert_true(net_cidr_list_valid("", err, sizeof err));
    assert_true(net_cidr_list_valid("127.0.0.1, 10.0.0.0/8,,::1/128 ", err, sizeof err));
    assert_false(net_cidr_list_valid("127.0.0.1/33", err, sizeof err));
    assert_non_null(strstr(err, "127.0.0.1/33"));
    assert_false(net_cidr_list_valid("localhost", err, sizeof err));
    assert_false(net_cidr_list_valid("10.0.0.0/", err, sizeof err));
    uint8_t a[16];
    assert_true(net_addr_parse("10.9.8.7", a));
    assert_true(net_cidr_list_contains("192.168.0.0/16, 10.0.0.0/8", a));
    assert_false(net_cidr_list_contains("10.9.8.6/32", a));
    assert_false(net_cidr_list_contains(NULL, a));
    /* an IPv4-mapped IPv6 address matches its IPv4 entry */
    assert_true(net_addr_parse("::ffff:10.9.8.7", a));
    assert_true(net_cidr_list_contains("10.9.0.0/16", a));
    assert_true(net_addr_parse("fe80::1", a));
    assert_true(net_cidr_list_contains("fe80::/10", a));
    /* a bad entry never matches, the good ones still do */
    assert_false(net_cidr_list_contains("fe80::1/200", a));
    assert_true(net_cidr_list_contains("bogus, fe80::/64", a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_classes),
        cmocka_unit_test(test_cidr_lists),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_allowlisted_fetch_works),
        cmocka_unit_test(test_loopback_forbidden_without_allowlist),
        cmocka_unit_test(test_redirect_to_metadata_refused),
        cmocka_unit_test(test_too_many_redirects),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_timeout),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
