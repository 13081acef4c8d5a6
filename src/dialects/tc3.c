/* tc3.c — placeholder until the dialect lands. */
#include "dialects/dialects.h"

void dialect_tc3(http_request *req)
{
    reply_error(req, 501, "not_implemented", "this dialect is not implemented yet");
}
