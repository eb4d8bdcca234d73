/* OpenAI Realtime API over WebSocket: GET /v1/realtime upgrades (civetweb's WebSocket
 * support) and each connection drives one voice session (omni_voice_* in omni.h),
 * turning its events into Realtime server events (GA names) and client events into
 * voice calls. */
#ifndef OMNI_API_REALTIME_H
#define OMNI_API_REALTIME_H
#include <civetweb.h>

struct api_server;

/* Registers the /v1/realtime WebSocket handler on the server's civetweb context. */
void api_realtime_register(struct api_server *s);
/* 1 for a WebSocket upgrade request to /v1/realtime: begin_request must leave it to
 * civetweb (return 0) so the handler registered above gets it. */
int api_realtime_is_upgrade(const struct mg_connection *c);

#endif
