/* GET /api/tools (routes_tools.h): {"builtin": [...], "mcp_servers": [{"label"}]}. */
#include "api/routes_tools.h"

#include <string.h>

#include "api/reply.h"
#include "api/server.h"
#include "tools/builtin.h"

int route_tools(struct api_server *s, struct mg_connection *c, const char *m) {
    if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "%s /api/tools: use GET", m);
    cJSON *o = cJSON_CreateObject();
    static const char *const builtin[] = {"calculator", "current_time", "data_analysis"};
    cJSON_AddItemToObject(o, "builtin", cJSON_CreateStringArray(builtin, 3));
    cJSON *list = cJSON_AddArrayToObject(o, "mcp_servers");
    const struct builtin_config *cfg = s->p.mcp;
    for (int k = 0; cfg && k < cfg->n; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", cfg->servers[k].label);
        cJSON_AddStringToObject(e, "transport", "stdio");
        cJSON_AddItemToArray(list, e);
    }
    int st = api_reply_json(c, 200, o);
    cJSON_Delete(o);
    return st;
}
