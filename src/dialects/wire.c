/*
 * wire.c — JSON and XML answer bytes for the dialects (see wire.h).
 *
 * Must never: free a buffer that held an answer without zeroing it.
 */
#include "dialects/wire.h"

#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

#define XML_DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>"

bool wire_xml_element(xmlTextWriterPtr w, const char *name, const char *text)
{
    return xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text) >= 0;
}

char *wire_xml_render(wire_xml_body body, const void *arg, size_t *len)
{
    pthread_once(&xml_once, xml_init);
    xmlBufferPtr buf = xmlBufferCreate();
    if (buf == NULL)
        return NULL;
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    char *out = NULL;
    if (w != NULL) {
        /* Without StartDocument the writer adds no encoder: the texts
         * (UTF-8) go out as they are. */
        bool ok = xmlTextWriterWriteRaw(w, BAD_CAST XML_DECL) >= 0 && body(w, arg) &&
                  xmlTextWriterFlush(w) >= 0;
        xmlFreeTextWriter(w);
        int n = ok ? xmlBufferLength(buf) : -1;
        out = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (out != NULL) {
            memcpy(out, xmlBufferContent(buf), (size_t)n);
            out[n] = '\0';
            *len = (size_t)n;
        }
    }
    /* The buffer held what `out` holds: wipe it before it goes back. */
    if (xmlBufferLength(buf) > 0)
        OPENSSL_cleanse((void *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
    xmlBufferFree(buf);
    return out;
}

char *wire_json_text(json_t *o, size_t *len)
{
    if (o == NULL)
        return NULL;
    size_t n = http_json_write(o, NULL, 0);
    char *out = n > 0 ? malloc(n + 1) : NULL;
    if (out != NULL) {
        http_json_write(o, out, n);
        out[n] = '\0';
        *len = n;
    }
    json_decref(o);
    return out;
}
