/* idcardstatus.c — placeholder until the dialect lands. */
#include "dialects/dialects.h"

void dialect_idcardstatus_json(http_request *req)
{
    reply_error(req, 501, "not_implemented", "this dialect is not implemented yet");
}

void dialect_idcardstatus_xml(http_request *req)
{
    reply_error(req, 501, "not_implemented", "this dialect is not implemented yet");
}
