/*
 * wire.h — writing the answers of the vendor dialects that answer in JSON
 * or XML (C: idcardstatus, E: pyi_ocr): the same bytes-out steps, once.
 *
 * XML: libxml2's xmlwriter into memory, preceded by the vendors' own
 * declaration, written raw (`<?xml version="1.0" encoding="utf-8"?>`, no
 * newline: xmlTextWriterStartDocument would spell it otherwise), with no
 * indentation. JSON: compact, as the HTTP replies write it, without the
 * trailing newline the native answers have.
 *
 * Ownership: the returned text is malloc'ed and NUL-terminated (`*len`
 * excludes the NUL); zero and free it (it may hold identity data). Every
 * intermediate buffer is zeroed before it is freed. Thread-safe.
 */
#ifndef SHIMING_DIALECTS_WIRE_H
#define SHIMING_DIALECTS_WIRE_H

#include <jansson.h>
#include <libxml/xmlwriter.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes the document element and everything in it; false on failure. */
typedef bool (*wire_xml_body)(xmlTextWriterPtr w, const void *arg);

/* The declaration, then body(w, arg); NULL on failure. */
char *wire_xml_render(wire_xml_body body, const void *arg, size_t *len);

/* <name>text</name>, text escaped. */
bool wire_xml_element(xmlTextWriterPtr w, const char *name, const char *text);

/* `o` (stolen, even on failure) as compact JSON; NULL on failure. */
char *wire_json_text(json_t *o, size_t *len);

#endif
