/* GET /api/tools: what the web app can turn on per chat: the built-in tools this server
 * runs (calculator, current_time, data_analysis) and the MCP servers the admin configured
 * (`omni serve --mcp NAME=COMMAND`), each by its label. A signed-in user's (or --no-auth). */
#ifndef OMNI_API_ROUTES_TOOLS_H
#define OMNI_API_ROUTES_TOOLS_H
#include "api/routes.h"

int route_tools(struct api_server *s, struct mg_connection *c, const char *m);

#endif
