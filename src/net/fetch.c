/* fetch.c — placeholder until URL fetching lands (see fetch.h). */
#include "net/fetch.h"

const char *fetch_status_code(fetch_status st) { (void)st; return "failed"; }
fetch_status fetch_url(const char *url, const fetch_options *opt, char **body, size_t *len)
{
    (void)url; (void)opt; (void)body; (void)len;
    return FETCH_FAILED;
}
