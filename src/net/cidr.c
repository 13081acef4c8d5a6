/*
 * cidr.c — addresses, CIDR lists and the SSRF guard's address classes
 * (see cidr.h).
 *
 * Must never: match a malformed entry, or call an address public because
 * it is spelled in an IPv6 form that embeds an internal IPv4 address.
 */
#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

bool net_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out, &a6, 16);
        return true;
    }
    return false;
}

bool net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out, &in6->sin6_addr, 16);
        return true;
    }
    return false;
}

bool net_cidr_parse(const char *s, size_t len, net_cidr *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    long plen = -1;
    if (slash != NULL) {
        *slash = '\0';
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3)
            return false;
        plen = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return false;
            plen = plen * 10 + (*p - '0');
        }
    }
    struct in_addr a4;
    bool v4 = inet_pton(AF_INET, buf, &a4) == 1;
    if (!net_addr_parse(buf, out->a))
        return false;
    int max = v4 ? 32 : 128;
    if (plen > max)
        return false;
    out->prefix = plen < 0 ? 128 : v4 ? (int)plen + 96 : (int)plen;
    return true;
}

bool net_cidr_contains(const net_cidr *c, const uint8_t a[16])
{
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->a, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->a[full] & mask) == (a[full] & mask);
}

/* Calls fn for each trimmed entry of a comma-separated list; stops and
 * returns false when fn does. */
static bool each_entry(const char *list, bool (*fn)(const char *, size_t, void *), void *ctx)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0 && !fn(s, n, ctx))
            return false;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return true;
}

typedef struct {
    char *err;
    size_t errlen;
} valid_ctx;

static bool check_entry(const char *s, size_t n, void *ctx)
{
    valid_ctx *v = ctx;
    net_cidr c;
    if (net_cidr_parse(s, n, &c))
        return true;
    if (v->err != NULL && v->errlen > 0)
        snprintf(v->err, v->errlen, "'%.*s' is not an IPv4 or IPv6 address or CIDR",
                 (int)(n > 60 ? 60 : n), s);
    return false;
}

bool net_cidr_list_valid(const char *list, char *err, size_t errlen)
{
    valid_ctx v = {err, errlen};
    return list == NULL || each_entry(list, check_entry, &v);
}

typedef struct {
    const uint8_t *a;
    bool found;
} match_ctx;

static bool match_entry(const char *s, size_t n, void *ctx)
{
    match_ctx *m = ctx;
    net_cidr c;
    if (net_cidr_parse(s, n, &c) && net_cidr_contains(&c, m->a)) {
        m->found = true;
        return false;
    }
    return true;
}

bool net_cidr_list_contains(const char *list, const uint8_t a[16])
{
    if (list == NULL)
        return false;
    match_ctx m = {a, false};
    each_entry(list, match_entry, &m);
    return m.found;
}

/* --------------------------------------------------------- the SSRF guard */

static bool v4_internal(const uint8_t v[4], const char **why)
{
    static const struct {
        uint8_t net[4];
        int bits;
        const char *name;
    } ranges[] = {
        {{0, 0, 0, 0}, 8, "this network (0.0.0.0/8)"},
        {{10, 0, 0, 0}, 8, "private (10.0.0.0/8)"},
        {{100, 64, 0, 0}, 10, "shared address space (100.64.0.0/10)"},
        {{127, 0, 0, 0}, 8, "loopback (127.0.0.0/8)"},
        {{169, 254, 0, 0}, 16, "link-local (169.254.0.0/16)"},
        {{172, 16, 0, 0}, 12, "private (172.16.0.0/12)"},
        {{192, 0, 0, 0}, 24, "IETF protocol assignments (192.0.0.0/24)"},
        {{192, 168, 0, 0}, 16, "private (192.168.0.0/16)"},
        {{198, 18, 0, 0}, 15, "benchmarking (198.18.0.0/15)"},
        {{224, 0, 0, 0}, 4, "multicast (224.0.0.0/4)"},
        {{240, 0, 0, 0}, 4, "reserved and broadcast (240.0.0.0/4)"},
    };
    uint32_t x = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        uint32_t n = (uint32_t)ranges[i].net[0] << 24 | (uint32_t)ranges[i].net[1] << 16 |
                     (uint32_t)ranges[i].net[2] << 8 | ranges[i].net[3];
        uint32_t mask = ranges[i].bits == 0 ? 0 : 0xffffffffu << (32 - ranges[i].bits);
        if ((x & mask) == n) {
            if (why != NULL)
                *why = ranges[i].name;
            return true;
        }
    }
    return false;
}

static bool zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

bool net_addr_is_internal(const uint8_t a[16], const char **why)
{
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    /* IPv4-mapped (how IPv4 is held here): the IPv4 rules. */
    if (zeros(a, 10) && a[10] == 0xff && a[11] == 0xff)
        return v4_internal(a + 12, why);
    if (zeros(a, 12)) { /* ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d */
        *why = zeros(a, 15) && a[15] <= 1 ? (a[15] ? "loopback (::1)" : "unspecified (::)")
                                          : "IPv4-compatible (::/96)";
        return true;
    }
    if (memcmp(a, nat64, 12) == 0)
        return v4_internal(a + 12, why);
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:aabb:ccdd::/48 */
        return v4_internal(a + 2, why);
    if ((a[0] & 0xfe) == 0xfc) {
        *why = "unique local (fc00::/7)";
        return true;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
        *why = "link-local (fe80::/10)";
        return true;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) {
        *why = "site-local (fec0::/10)";
        return true;
    }
    if (a[0] == 0xff) {
        *why = "multicast (ff00::/8)";
        return true;
    }
    return false;
}
