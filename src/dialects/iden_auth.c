/* iden_auth.c — placeholder until the dialect lands. */
#include "dialects/dialects.h"

void dialect_iden_auth(http_request *req)
{
    reply_error(req, 501, "not_implemented", "this dialect is not implemented yet");
}
