/* RFC 2397 "data:" URIs as OpenAI clients send images and audio inline
 * ("data:image/png;base64,iVBOR..."): the media type and the base64 payload decoded. */
#ifndef OMNI_FORMATS_DATA_URI_H
#define OMNI_FORMATS_DATA_URI_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Decodes standard base64 (padding optional, whitespace skipped). *out is malloc'ed. */
int data_uri_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, struct err *e);

/* Parses "data:MEDIA/TYPE[;params];base64,PAYLOAD". mime receives the media type
 * (lower-cased, truncated to mime_cap); *out the decoded bytes (malloc'ed). */
int data_uri_decode(const char *uri, char *mime, size_t mime_cap, uint8_t **out, size_t *out_len, struct err *e);

#endif
