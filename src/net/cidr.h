/*
 * cidr.h — IP addresses and CIDR lists for the network guards: parsing
 * "addr" / "addr/len" entries (IPv4 and IPv6), comma-separated lists of
 * them, and the SSRF guard's classification of addresses that a server
 * must not be made to connect to on a client's behalf.
 *
 * Addresses are 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped ::ffff:a.b.c.d,
 * so that one list holds both families and an IPv4-mapped IPv6 address
 * matches its IPv4 entry.
 *
 * Pure functions, no state: thread-safe.
 */
#ifndef SHIMING_NET_CIDR_H
#define SHIMING_NET_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
    uint8_t a[16];
    int prefix;        /* over the 128 bits (an IPv4 /8 is 104) */
} net_cidr;

/* An address literal (no brackets, no zone) into 16 bytes. */
bool net_addr_parse(const char *s, uint8_t out[16]);

/* The address of a socket address (AF_INET, AF_INET6). */
bool net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, uint8_t out[16]);

/* One entry "addr" or "addr/len" (len <= 32 for IPv4, <= 128 for IPv6),
 * s[0..len), no spaces. */
bool net_cidr_parse(const char *s, size_t len, net_cidr *out);

bool net_cidr_contains(const net_cidr *c, const uint8_t a[16]);

/* A comma-separated list (spaces around entries and empty entries
 * allowed). false with the first bad entry named in err. */
bool net_cidr_list_valid(const char *list, char *err, size_t errlen);

/* Is `a` in one of the list's entries? (bad entries never match) */
bool net_cidr_list_contains(const char *list, const uint8_t a[16]);

/* The SSRF guard: true for an address a fetch on a client's behalf must
 * not reach — unspecified, loopback, private (RFC 1918, fc00::/7),
 * shared (CGNAT 100.64/10), link-local (169.254/16 with the cloud metadata
 * address, fe80::/10, and the deprecated site-local fec0::/10), multicast,
 * broadcast and the reserved 0/8 and 240/4, 192.0.0/24, 198.18/15; and
 * any IPv6 form embedding such an IPv4 address (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16). `why`
 * (may be NULL) gets a static name of the range. */
bool net_addr_is_internal(const uint8_t a[16], const char **why);

#endif
