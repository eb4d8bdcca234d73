/* Built-in tools (builtin.h): the request's data_analysis and mcp tools turned into
 * functions for the model, and the model's calls to them run. */
#include "tools/builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <time.h>

#include "omni.h"
#include "tools/calc.h"
#include "tools/clock.h"
#include "tools/tz.h"
#include "tools/xlsx.h"

static int bad(char *param, size_t pc, char *msg, size_t mc, int status, const char *p, const char *m) {
    snprintf(param, pc, "%s", p);
    snprintf(msg, mc, "%s", m);
    return status;
}

int builtin_wanted(const cJSON *tools) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
        if (cJSON_IsString(ty) && (!strcmp(ty->valuestring, "data_analysis") || !strcmp(ty->valuestring, "mcp") ||
                                   !strcmp(ty->valuestring, "calculator") || !strcmp(ty->valuestring, "current_time")))
            return 1;
    }
    return 0;
}

int builtin_find(const struct builtin_set *set, const char *name) {
    for (int i = 0; i < set->n_fns; i++)
        if (!strcmp(set->fns[i].name, name)) return i;
    return -1;
}

static int fn_taken(const struct builtin_set *set, const char *name) {
    const cJSON *f;
    if (builtin_find(set, name) >= 0) return 1;
    cJSON_ArrayForEach(f, set->functions) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f, "function"), "name");
        if (cJSON_IsString(nm) && !strcmp(nm->valuestring, name)) return 1;
    }
    return 0;
}

static int add_fn(struct builtin_set *set, const char *name, enum builtin_kind kind, int server, int approval,
                  const char *description, cJSON *parameters /* taken */) {
    struct builtin_fn *f = realloc(set->fns, (size_t)(set->n_fns + 1) * sizeof *f);
    if (!f) { cJSON_Delete(parameters); return -1; }
    set->fns = f;
    f = &set->fns[set->n_fns++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->kind = kind;
    f->server = server;
    f->approval = approval;
    cJSON *e = cJSON_CreateObject(), *fn;
    cJSON_AddStringToObject(e, "type", "function");
    fn = cJSON_AddObjectToObject(e, "function");
    cJSON_AddStringToObject(fn, "name", name);
    if (description) cJSON_AddStringToObject(fn, "description", description);
    cJSON_AddItemToObject(fn, "parameters", parameters);
    cJSON_AddItemToArray(set->functions, e);
    return 0;
}

/* The functions' schemas: the SQL up to max_sql chars; a chart's x and y are columns of
 * the tables (or of the query's result, which may rename them: then any name). */
static cJSON *query_schema(int max_sql) {
    cJSON *s = cJSON_CreateObject(), *pr, *q;
    cJSON_AddStringToObject(s, "type", "object");
    pr = cJSON_AddObjectToObject(s, "properties");
    q = cJSON_AddObjectToObject(pr, "sql");
    cJSON_AddStringToObject(q, "type", "string");
    cJSON_AddStringToObject(q, "description", "one SQLite SELECT (or WITH) statement over the tables");
    cJSON_AddNumberToObject(q, "maxLength", max_sql);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"), cJSON_CreateString("sql"));
    cJSON_AddBoolToObject(s, "additionalProperties", 0);
    return s;
}

static cJSON *chart_schema(int max_sql) {
    cJSON *s = query_schema(max_sql), *pr = cJSON_GetObjectItem(s, "properties"), *o;
    static const char *const marks[] = {"bar", "line", "point", "area", "arc"};
    o = cJSON_AddObjectToObject(pr, "mark");
    cJSON_AddItemToObject(o, "enum", cJSON_CreateStringArray(marks, 5));
    static const char *const xy[] = {"x", "y"};
    for (int k = 0; k < 2; k++) {
        o = cJSON_AddObjectToObject(pr, xy[k]);
        cJSON_AddStringToObject(o, "type", "string");
        cJSON_AddStringToObject(o, "description", "a column of the query's result");
        cJSON_AddNumberToObject(o, "maxLength", 64);
    }
    o = cJSON_AddObjectToObject(pr, "title");
    cJSON_AddStringToObject(o, "type", "string");
    cJSON_AddNumberToObject(o, "maxLength", 80);
    cJSON *req = cJSON_GetObjectItem(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("mark"));
    cJSON_AddItemToArray(req, cJSON_CreateString("x"));
    cJSON_AddItemToArray(req, cJSON_CreateString("y"));
    return s;
}

/* A limit from the tool's "limits" object: def when absent; -1 when out of [lo, hi]. */
static int limit(const cJSON *limits, const char *k, int lo, int hi, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(limits, k);
    if (!v || cJSON_IsNull(v)) return def;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi || v->valuedouble != (int)v->valuedouble) return -1;
    return v->valueint;
}

static int data_analysis(const cJSON *t, int i, struct builtin_set *set, char *param, size_t pc, char *msg, size_t mc) {
    char p[64], m[512];
    if (set->db) {
        snprintf(p, sizeof p, "tools[%d]", i);
        return bad(param, pc, msg, mc, 400, p, "only one data_analysis tool per request (put all tables in it)");
    }
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(t, "tables"), *tb;
    snprintf(p, sizeof p, "tools[%d].tables", i);
    if (!cJSON_IsArray(tables) || !cJSON_GetArraySize(tables))
        return bad(param, pc, msg, mc, 400, p, "a data_analysis tool needs 'tables': [{\"name\": ..., \"csv\": ...}]");
    /* omni's "limits": {max_rows, timeout_ms, max_sql_length}, within the server's bounds */
    const cJSON *limits = cJSON_GetObjectItemCaseSensitive(t, "limits");
    struct sql_limits lim = sql_default_limits();
    int max_sql = 8000;
    if (limits && !cJSON_IsNull(limits)) {
        snprintf(p, sizeof p, "tools[%d].limits", i);
        lim.max_rows = limit(limits, "max_rows", 1, 10000, lim.max_rows);
        lim.timeout_ms = limit(limits, "timeout_ms", 100, 60000, lim.timeout_ms);
        max_sql = limit(limits, "max_sql_length", 16, 100000, max_sql);
        if (!cJSON_IsObject(limits) || lim.max_rows < 0 || lim.timeout_ms < 0 || max_sql < 0)
            return bad(param, pc, msg, mc, 400, p, "'limits' must be {\"max_rows\": 1..10000, \"timeout_ms\": 100..60000, "
                                                   "\"max_sql_length\": 16..100000}");
    }
    snprintf(p, sizeof p, "tools[%d].tables", i);
    if (sql_db_open(&set->db, &lim, m, sizeof m)) return bad(param, pc, msg, mc, 500, p, m);
    int k = 0;
    size_t total = 0;
    cJSON_ArrayForEach(tb, tables) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(tb, "name"), *csv = cJSON_GetObjectItemCaseSensitive(tb, "csv");
        const cJSON *xl = cJSON_GetObjectItemCaseSensitive(tb, "xlsx"), *sheet = cJSON_GetObjectItemCaseSensitive(tb, "sheet");
        const cJSON *fdata = cJSON_GetObjectItemCaseSensitive(tb, "file_data"), *fname = cJSON_GetObjectItemCaseSensitive(tb, "filename");
        snprintf(p, sizeof p, "tools[%d].tables[%d]", i, k);
        int forms = cJSON_IsString(csv) + cJSON_IsString(xl) + cJSON_IsString(fdata);
        if (!cJSON_IsString(nm) || forms != 1 || (sheet && !cJSON_IsString(sheet)) || (fdata && !cJSON_IsString(fname)))
            return bad(param, pc, msg, mc, 400, p, "each table is {\"name\", \"csv\": text}, {\"name\", \"xlsx\": base64, "
                                                   "\"sheet\"} or {\"name\", \"filename\", \"file_data\": base64 or a data: URI}");
        char e[300], *text = NULL;
        size_t len = 0;
        const cJSON *b64 = cJSON_IsString(xl) ? xl : fdata;
        if (b64) {
            /* a file, base64 (or a data: URI): a workbook's sheet as CSV, or CSV text */
            const char *dot = fname ? strrchr(fname->valuestring, '.') : NULL;
            int is_xlsx = xl || (dot && !strcasecmp(dot, ".xlsx"));
            char de[256] = "";
            uint8_t *bytes = NULL;
            size_t nb = 0;
            char mime[96];
            int drc = !strncmp(b64->valuestring, "data:", 5)
                          ? omni_data_uri_decode(b64->valuestring, mime, sizeof mime, &bytes, &nb, de, sizeof de)
                          : omni_base64_decode(b64->valuestring, strlen(b64->valuestring), &bytes, &nb, de, sizeof de);
            if (drc) {
                free(bytes);
                snprintf(m, sizeof m, "table '%.100s': the file data is not base64: %.200s", nm->valuestring, de);
                return bad(param, pc, msg, mc, 400, p, m);
            }
            int xrc = 0;
            if (is_xlsx) xrc = xlsx_to_csv(bytes, nb, cJSON_IsString(sheet) ? sheet->valuestring : NULL, &text, &len, e, sizeof e);
            else if (memchr(bytes, 0, nb)) xrc = -1, snprintf(e, sizeof e, "the file is not text (it has NUL bytes)");
            else if (!(text = malloc(nb + 1))) xrc = -1, snprintf(e, sizeof e, "out of memory");
            else {
                memcpy(text, bytes, nb);
                text[nb] = 0;
                len = nb;
            }
            free(bytes);
            if (xrc) {
                free(text);
                snprintf(m, sizeof m, "table '%.100s': %s", nm->valuestring, e);
                return bad(param, pc, msg, mc, 400, p, m);
            }
        } else len = strlen(csv->valuestring);
        total += len;
        if (total > SQL_CSV_MAX_BYTES) {
            free(text);
            snprintf(m, sizeof m, "the tables are more than %u MB in all", SQL_CSV_MAX_BYTES >> 20);
            return bad(param, pc, msg, mc, 400, p, m);
        }
        int lrc = sql_db_load_csv(set->db, nm->valuestring, text ? text : csv->valuestring, len, e, sizeof e);
        free(text);
        if (lrc) {
            snprintf(m, sizeof m, "table '%.100s': %s", nm->valuestring, e);
            return bad(param, pc, msg, mc, 400, p, m);
        }
        k++;
    }
    char *desc = sql_db_describe(set->db);
    if (!desc) return bad(param, pc, msg, mc, 503, "tools", "out of memory");
    size_t dl = strlen(desc) + 300;
    char *qd = malloc(dl), *cd = malloc(dl);
    if (!qd || !cd) { free(desc); free(qd); free(cd); return bad(param, pc, msg, mc, 503, "tools", "out of memory"); }
    snprintf(qd, dl, "Run one read-only SQLite query over the user's tables; the result comes back as a table. Tables:\n%s", desc);
    snprintf(cd, dl, "Draw a chart (Vega-Lite) of a SQLite query's result: x and y name columns of the result. Tables:\n%s", desc);
    free(desc);
    int rc = (fn_taken(set, "query") || fn_taken(set, "chart")) ? 1
             : add_fn(set, "query", BUILTIN_QUERY, -1, 0, qd, query_schema(max_sql)) ||
                       add_fn(set, "chart", BUILTIN_CHART, -1, 0, cd, chart_schema(max_sql)) ? -1 : 0;
    free(qd);
    free(cd);
    snprintf(p, sizeof p, "tools[%d]", i);
    if (rc > 0) return bad(param, pc, msg, mc, 400, p, "a function named 'query' or 'chart' clashes with the data_analysis tool's");
    if (rc < 0) return bad(param, pc, msg, mc, 503, "tools", "out of memory");
    return 0;
}

/* Is name in a list of names (an array, or {"tool_names": [...]})? */
static int in_names(const cJSON *list, const char *name) {
    if (cJSON_IsObject(list)) list = cJSON_GetObjectItemCaseSensitive(list, "tool_names");
    const cJSON *n;
    cJSON_ArrayForEach(n, list) if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return 1;
    return 0;
}

static int names_ok(const cJSON *list) {
    if (!list || cJSON_IsNull(list)) return 1;
    if (cJSON_IsObject(list)) list = cJSON_GetObjectItemCaseSensitive(list, "tool_names");
    if (!cJSON_IsArray(list)) return 0;
    const cJSON *n;
    cJSON_ArrayForEach(n, list) if (!cJSON_IsString(n)) return 0;
    return 1;
}

/* The running client of a configured command: started when there is none, started again
 * when the last one's command has ended (that client stays until the config is freed, as
 * another request may still hold it). NULL with err. */
static mcp_client *stdio_client(struct builtin_config *cfg, struct builtin_stdio *st, char *err, size_t cap) {
    pthread_mutex_lock(&cfg->mu);
    if (st->cl && !mcp_alive(st->cl)) {
        mcp_client **r = realloc(cfg->retired, (size_t)(cfg->n_retired + 1) * sizeof *r);
        if (r) {
            cfg->retired = r;
            r[cfg->n_retired++] = st->cl;
            st->cl = NULL;
        }
    }
    err[0] = 0;
    if (!st->cl && mcp_connect_stdio(st->command, cfg->timeout_ms, &st->cl, err, cap)) st->cl = NULL;
    if (!st->cl && !err[0]) snprintf(err, cap, "out of memory");
    mcp_client *c = st->cl;
    pthread_mutex_unlock(&cfg->mu);
    return c;
}

static int mcp_tool(const cJSON *t, int i, struct builtin_config *cfg, struct builtin_set *set, char *param,
                    size_t pc, char *msg, size_t mc) {
    char p[80], m[600], e[400] = "";
    struct builtin_stdio *stdio = NULL;
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(t, "server_label"), *url = cJSON_GetObjectItemCaseSensitive(t, "server_url");
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(t, "allowed_tools");
    const cJSON *approval = cJSON_GetObjectItemCaseSensitive(t, "require_approval");
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(t, "headers");
    snprintf(p, sizeof p, "tools[%d].server_label", i);
    if (!cJSON_IsString(label) || !label->valuestring[0] || strlen(label->valuestring) >= 64)
        return bad(param, pc, msg, mc, 400, p, "an mcp tool needs a 'server_label' (1 to 63 characters)");
    for (int k = 0; k < set->n_servers; k++)
        if (!strcmp(set->servers[k].label, label->valuestring))
            return bad(param, pc, msg, mc, 400, p, "two mcp tools have the same server_label");
    if (set->n_servers >= BUILTIN_MAX_SERVERS) {
        snprintf(m, sizeof m, "at most %d mcp servers per request", BUILTIN_MAX_SERVERS);
        return bad(param, pc, msg, mc, 400, "tools", m);
    }
    snprintf(p, sizeof p, "tools[%d].allowed_tools", i);
    if (!names_ok(allowed)) return bad(param, pc, msg, mc, 400, p, "'allowed_tools' must be an array of tool names or {\"tool_names\": [...]}");
    snprintf(p, sizeof p, "tools[%d].require_approval", i);
    int always = 1;   /* OpenAI's default: every call waits for approval */
    if (cJSON_IsString(approval)) {
        if (!strcmp(approval->valuestring, "never")) always = 0;
        else if (strcmp(approval->valuestring, "always"))
            return bad(param, pc, msg, mc, 400, p, "'require_approval' must be \"always\", \"never\" or {\"never\": {\"tool_names\": [...]}}");
    } else if (approval && !cJSON_IsNull(approval)) {
        const cJSON *nv = cJSON_GetObjectItemCaseSensitive(approval, "never"), *al = cJSON_GetObjectItemCaseSensitive(approval, "always");
        if (!cJSON_IsObject(approval) || !names_ok(nv) || !names_ok(al))
            return bad(param, pc, msg, mc, 400, p, "'require_approval' must be \"always\", \"never\" or {\"never\": {\"tool_names\": [...]}}");
    }
    snprintf(p, sizeof p, "tools[%d].headers", i);
    if (headers && !cJSON_IsNull(headers) && !cJSON_IsObject(headers))
        return bad(param, pc, msg, mc, 400, p, "'headers' must be an object of header names to values");
    const cJSON *tmo = cJSON_GetObjectItemCaseSensitive(t, "timeout_ms");
    int timeout_ms = 0;
    if (tmo && !cJSON_IsNull(tmo)) {
        snprintf(p, sizeof p, "tools[%d].timeout_ms", i);
        if (!cJSON_IsNumber(tmo) || tmo->valuedouble < 100 || tmo->valuedouble > 600000)
            return bad(param, pc, msg, mc, 400, p, "'timeout_ms' (omni's) must be a number of milliseconds from 100 to 600000");
        timeout_ms = tmo->valueint;
    }
    struct builtin_server *sv = &set->servers[set->n_servers];
    memset(sv, 0, sizeof *sv);
    snprintf(sv->label, sizeof sv->label, "%s", label->valuestring);
    if (url && !cJSON_IsNull(url)) {
        snprintf(p, sizeof p, "tools[%d].server_url", i);
        if (!cJSON_IsString(url)) return bad(param, pc, msg, mc, 400, p, "'server_url' must be a string");
        if (mcp_connect_http(url->valuestring, cJSON_IsObject(headers) ? headers : NULL, timeout_ms, &sv->cl, e, sizeof e)) {
            snprintf(m, sizeof m, "Error retrieving tool list from MCP server '%s': %s", sv->label, e);
            return bad(param, pc, msg, mc, strstr(e, "http://") ? 400 : 424, p, m);
        }
    } else {
        for (int k = 0; cfg && k < cfg->n; k++)
            if (!strcmp(cfg->servers[k].label, sv->label)) stdio = &cfg->servers[k];
        if (stdio) {
            sv->shared = 1;
            if (!(sv->cl = stdio_client(cfg, stdio, e, sizeof e))) {
                snprintf(p, sizeof p, "tools[%d]", i);
                snprintf(m, sizeof m, "Error retrieving tool list from MCP server '%s': %s", sv->label, e);
                return bad(param, pc, msg, mc, 424, p, m);
            }
        }
        if (!stdio) {
            snprintf(p, sizeof p, "tools[%d].server_url", i);
            snprintf(m, sizeof m, "the mcp tool '%s' needs a 'server_url' (no server of that label is configured on this "
                                  "server with --mcp)", sv->label);
            return bad(param, pc, msg, mc, 400, p, m);
        }
    }
    set->n_servers++;
    int listed = mcp_list_tools(sv->cl, &sv->tools, e, sizeof e) == 0;
    if (!listed && stdio && !mcp_alive(sv->cl)) {
        /* the command had ended since the last request: once more on a fresh one */
        if ((sv->cl = stdio_client(cfg, stdio, e, sizeof e))) listed = mcp_list_tools(sv->cl, &sv->tools, e, sizeof e) == 0;
    }
    if (!listed) {
        snprintf(m, sizeof m, "Error retrieving tool list from MCP server '%s': %s", sv->label, e);
        snprintf(p, sizeof p, "tools[%d]", i);
        return bad(param, pc, msg, mc, 424, p, m);
    }
    /* allowed_tools filters what is listed and offered */
    if (allowed && !cJSON_IsNull(allowed)) {
        for (int k = cJSON_GetArraySize(sv->tools) - 1; k >= 0; k--) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sv->tools, k), "name");
            if (!in_names(allowed, nm->valuestring)) cJSON_DeleteItemFromArray(sv->tools, k);
        }
    }
    const cJSON *tool;
    cJSON_ArrayForEach(tool, sv->tools) {
        const char *nm = cJSON_GetObjectItemCaseSensitive(tool, "name")->valuestring;
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(tool, "description");
        if (fn_taken(set, nm)) {
            snprintf(p, sizeof p, "tools[%d]", i);
            snprintf(m, sizeof m, "the MCP server '%s' has a tool '%s', which another tool already names", sv->label, nm);
            return bad(param, pc, msg, mc, 400, p, m);
        }
        int need = always;
        if (cJSON_IsObject(approval)) {
            need = !in_names(cJSON_GetObjectItemCaseSensitive(approval, "never"), nm);
            if (in_names(cJSON_GetObjectItemCaseSensitive(approval, "always"), nm)) need = 1;
        }
        if (add_fn(set, nm, BUILTIN_MCP, set->n_servers - 1, need, cJSON_IsString(ds) ? ds->valuestring : NULL,
                   cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tool, "input_schema"), 1)))
            return bad(param, pc, msg, mc, 503, "tools", "out of memory");
    }
    return 0;
}

/* calculator and current_time: one function each; "timezone" checked against the tz database. */
static int simple_tool(const cJSON *t, int i, int is_time, struct builtin_set *set, char *param, size_t pc, char *msg,
                       size_t mc) {
    char p[64], m[300];
    const char *fname = is_time ? "current_time" : "calculator";
    char *zone = is_time ? set->time_tz : set->calc_tz;
    snprintf(p, sizeof p, "tools[%d]", i);
    if (zone[0]) {
        snprintf(m, sizeof m, "only one %s tool per request", fname);
        return bad(param, pc, msg, mc, 400, p, m);
    }
    const cJSON *tz = cJSON_GetObjectItemCaseSensitive(t, "timezone");
    snprintf(zone, 64, "UTC");
    if (tz && !cJSON_IsNull(tz)) {
        snprintf(p, sizeof p, "tools[%d].timezone", i);
        struct tz_local l;
        if (!cJSON_IsString(tz) || strlen(tz->valuestring) >= 64 || tz_lookup(tz->valuestring, 0, &l, m, sizeof m))
            return bad(param, pc, msg, mc, 400, p, cJSON_IsString(tz) ? m : "'timezone' must be an IANA time zone name");
        snprintf(zone, 64, "%s", tz->valuestring);
    }
    /* omni's "limits": {"max_expression_length": 16..1000} (the calculator's argument) */
    const cJSON *limits = cJSON_GetObjectItemCaseSensitive(t, "limits");
    int max_len = is_time ? 64 : CALC_EXPR_MAX;
    if (!is_time && limits && !cJSON_IsNull(limits)) {
        snprintf(p, sizeof p, "tools[%d].limits", i);
        max_len = limit(limits, "max_expression_length", 16, CALC_EXPR_MAX, CALC_EXPR_MAX);
        set->calc_timeout_ms = limit(limits, "timeout_ms", 100, 60000, 2000);
        if (!cJSON_IsObject(limits) || max_len < 0 || set->calc_timeout_ms < 0)
            return bad(param, pc, msg, mc, 400, p, "'limits' must be {\"max_expression_length\": 16..1000, \"timeout_ms\": 100..60000}");
    }
    snprintf(p, sizeof p, "tools[%d]", i);
    if (fn_taken(set, fname)) {
        snprintf(m, sizeof m, "a function named '%s' clashes with the built-in tool's", fname);
        return bad(param, pc, msg, mc, 400, p, m);
    }
    cJSON *s = cJSON_CreateObject(), *pr, *q;
    cJSON_AddStringToObject(s, "type", "object");
    pr = cJSON_AddObjectToObject(s, "properties");
    q = cJSON_AddObjectToObject(pr, is_time ? "timezone" : "expression");
    cJSON_AddStringToObject(q, "type", "string");
    cJSON_AddStringToObject(q, "description", is_time ? "an IANA time zone such as Asia/Seoul, Europe/Paris or UTC"
                                                      : "the expression, e.g. 1/3 + 1/6, 2^100, 1,250,000원 * 12, 5 km to mi, "
                                                        "100 °F to °C, 2026-12-25 - 2026-12-02, today + 100 days");
    cJSON_AddNumberToObject(q, "maxLength", max_len);
    if (!is_time) cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"), cJSON_CreateString("expression"));
    cJSON_AddBoolToObject(s, "additionalProperties", 0);
    snprintf(m, sizeof m, is_time ? "The current date and time in a time zone (default %s)."
                                  : "Exact arithmetic (fractions, big numbers, percentages, Korean numerals and 원), unit "
                                    "conversions and date arithmetic; 'today' is the date in %s.", zone);
    if (add_fn(set, fname, is_time ? BUILTIN_TIME : BUILTIN_CALC, -1, 0, m, s)) return bad(param, pc, msg, mc, 503, "tools", "out of memory");
    return 0;
}

int builtin_parse(const cJSON *tools, struct builtin_config *cfg, struct builtin_set *set, char *param,
                  size_t pc, char *msg, size_t mc) {
    memset(set, 0, sizeof *set);
    if (!(set->functions = cJSON_CreateArray())) return bad(param, pc, msg, mc, 503, "tools", "out of memory");
    if (!cJSON_IsArray(tools)) return 0;
    int i = 0;
    const cJSON *t;
    /* the caller's functions first, so a built-in that clashes with one is the error */
    cJSON_ArrayForEach(t, tools) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "function")) cJSON_AddItemToArray(set->functions, cJSON_Duplicate(t, 1));
    }
    cJSON_ArrayForEach(t, tools) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
        int rc = 0;
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "data_analysis")) rc = data_analysis(t, i, set, param, pc, msg, mc);
        else if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "mcp")) rc = mcp_tool(t, i, cfg, set, param, pc, msg, mc);
        else if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "calculator")) rc = simple_tool(t, i, 0, set, param, pc, msg, mc);
        else if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "current_time")) rc = simple_tool(t, i, 1, set, param, pc, msg, mc);
        if (rc) return rc;
        i++;
    }
    return 0;
}

void builtin_free(struct builtin_set *set) {
    sql_db_close(set->db);
    for (int k = 0; k < set->n_servers; k++) {
        if (!set->servers[k].shared) mcp_close(set->servers[k].cl);
        cJSON_Delete(set->servers[k].tools);
    }
    free(set->fns);
    cJSON_Delete(set->functions);
    memset(set, 0, sizeof *set);
}

static char *capped(const char *s) {
    size_t n = strlen(s);
    if (n <= BUILTIN_RESULT_MAX) return strdup(s);
    char *o = malloc(BUILTIN_RESULT_MAX + 64);
    if (!o) return NULL;
    size_t k = BUILTIN_RESULT_MAX;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;   /* whole UTF-8 characters */
    memcpy(o, s, k);
    snprintf(o + k, 64, "\n... (cut at %d bytes)", BUILTIN_RESULT_MAX);
    return o;
}

static const char *str_arg(const cJSON *a, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *builtin_item_type(const struct builtin_set *set, int fn) {
    if (fn < 0 || fn >= set->n_fns) return "data_analysis_call";
    switch (set->fns[fn].kind) {
    case BUILTIN_MCP: return "mcp_call";
    case BUILTIN_CALC: return "calculator_call";
    case BUILTIN_TIME: return "current_time_call";
    default: return "data_analysis_call";
    }
}

/* calculator and current_time: the item's result, output and error. */
static int run_simple(struct builtin_set *set, const struct builtin_fn *f, const char *args, cJSON *item, char **for_model) {
    char err[600] = "";
    cJSON *a = args ? cJSON_Parse(args) : NULL, *result = NULL;
    int64_t now = set->now ? set->now : (int64_t)time(NULL);
    if (f->kind == BUILTIN_CALC) {
        const char *ex = str_arg(a, "expression");
        if (!ex) snprintf(err, sizeof err, "the arguments need a string 'expression'");
        else {
            cJSON_AddStringToObject(item, "expression", ex);
            struct tz_local l;
            int64_t today = tz_lookup(set->calc_tz, now, &l, err, sizeof err) ? now / 86400
                                                                               : tz_days_from_civil(l.year, l.month, l.day);
            err[0] = 0;
            result = calc_eval(ex, today, set->calc_timeout_ms > 0 ? set->calc_timeout_ms : 2000, err, sizeof err);
            if (result) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(result, "result");
                char *t = malloc(strlen(ex) + (cJSON_IsString(r) ? strlen(r->valuestring) : 0) + 8);
                if (t) sprintf(t, "%s = %s", ex, cJSON_IsString(r) ? r->valuestring : "");
                *for_model = t ? capped(t) : NULL;
                free(t);
                if (!*for_model) { cJSON_Delete(result); cJSON_Delete(a); return -1; }
            }
        }
    } else {
        const char *zone = str_arg(a, "timezone");
        if (!zone || !*zone) zone = set->time_tz;
        cJSON_AddStringToObject(item, "timezone", zone);
        if ((result = clock_at(zone, now, err, sizeof err)) && !(*for_model = clock_text(result))) {
            cJSON_Delete(result);
            cJSON_Delete(a);
            return -1;
        }
    }
    cJSON_Delete(a);
    if (!result) {
        cJSON_AddNullToObject(item, "result");
        cJSON_AddStringToObject(item, "error", err);
        char m[700];
        snprintf(m, sizeof m, "Error: %s", err);
        *for_model = strdup(m);
        if (!*for_model) return -1;
        cJSON_AddStringToObject(item, "output", *for_model);
        return 1;
    }
    cJSON_AddItemToObject(item, "result", result);
    cJSON_AddNullToObject(item, "error");
    cJSON_AddStringToObject(item, "output", *for_model);
    return 0;
}

int builtin_run(struct builtin_set *set, int fi, const char *args, cJSON *item, char **for_model) {
    const struct builtin_fn *f = &set->fns[fi];
    char err[600] = "";
    *for_model = NULL;
    cJSON_AddStringToObject(item, "name", f->name);
    cJSON_AddStringToObject(item, "arguments", args ? args : "");
    if (f->kind == BUILTIN_CALC || f->kind == BUILTIN_TIME) return run_simple(set, f, args, item, for_model);
    if (f->kind == BUILTIN_MCP) {
        cJSON_AddStringToObject(item, "server_label", set->servers[f->server].label);
        char *out = NULL;
        int is_error = 0;
        if (mcp_call_tool(set->servers[f->server].cl, f->name, args, &out, &is_error, err, sizeof err)) {
            cJSON_AddNullToObject(item, "output");
            cJSON_AddStringToObject(item, "error", err);
            char m[700];
            snprintf(m, sizeof m, "Error: %s", err);
            *for_model = strdup(m);
            return *for_model ? 1 : -1;
        }
        char *c = capped(out);
        free(out);
        if (!c) return -1;
        cJSON_AddStringToObject(item, "output", c);
        if (is_error) cJSON_AddStringToObject(item, "error", c);
        else cJSON_AddNullToObject(item, "error");
        *for_model = c;
        return is_error;
    }
    cJSON *a = args ? cJSON_Parse(args) : NULL, *result = NULL;
    const char *sql = str_arg(a, "sql");
    int rc = 1;
    if (!sql) snprintf(err, sizeof err, "the arguments need a string 'sql'");
    else {
        cJSON_AddStringToObject(item, "sql", sql);
        if (!sql_db_query(set->db, sql, &result, err, sizeof err)) rc = 0;
    }
    if (!rc && f->kind == BUILTIN_CHART) {
        cJSON *spec = sql_chart_spec(result, str_arg(a, "mark"), str_arg(a, "x"), str_arg(a, "y"), str_arg(a, "title"), err,
                                     sizeof err);
        if (!spec) rc = 1;
        else {
            cJSON_AddItemToObject(item, "chart", spec);
            *for_model = strdup("The chart was drawn and shown to the user.");
        }
    }
    if (!rc && f->kind == BUILTIN_QUERY) {
        char *t = sql_result_text(result, BUILTIN_RESULT_MAX);
        *for_model = t;
    }
    if (!rc && !*for_model) { cJSON_Delete(a); cJSON_Delete(result); return -1; }
    if (rc) {
        cJSON_AddNullToObject(item, "result");
        cJSON_AddStringToObject(item, "error", err);
        char m[700];
        snprintf(m, sizeof m, "Error: %s", err);
        *for_model = strdup(m);
        cJSON_Delete(result);
    } else {
        cJSON_AddItemToObject(item, "result", result);
        cJSON_AddNullToObject(item, "error");
    }
    cJSON_AddStringToObject(item, "output", *for_model ? *for_model : "");
    cJSON_Delete(a);
    return *for_model ? rc : -1;
}

int builtin_config_add(struct builtin_config *cfg, const char *spec, char *err, size_t cap) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1] || eq - spec >= 64) {
        snprintf(err, cap, "--mcp takes NAME=COMMAND (NAME 1 to 63 characters), not '%s'", spec);
        return -1;
    }
    if (!cfg->servers) pthread_mutex_init(&cfg->mu, NULL);
    for (int k = 0; k < cfg->n; k++)
        if ((size_t)(eq - spec) == strlen(cfg->servers[k].label) && !strncmp(cfg->servers[k].label, spec, (size_t)(eq - spec))) {
            snprintf(err, cap, "--mcp %.*s is given twice", (int)(eq - spec), spec);
            return -1;
        }
    struct builtin_stdio *v = realloc(cfg->servers, (size_t)(cfg->n + 1) * sizeof *v);
    if (!v) { snprintf(err, cap, "out of memory"); return -1; }
    cfg->servers = v;
    v = &cfg->servers[cfg->n];
    memset(v, 0, sizeof *v);
    snprintf(v->label, sizeof v->label, "%.*s", (int)(eq - spec), spec);
    if (!(v->command = strdup(eq + 1))) { snprintf(err, cap, "out of memory"); return -1; }
    cfg->n++;
    return 0;
}

void builtin_config_free(struct builtin_config *cfg) {
    if (!cfg->servers) return;
    for (int k = 0; k < cfg->n; k++) {
        mcp_close(cfg->servers[k].cl);
        free(cfg->servers[k].command);
    }
    for (int k = 0; k < cfg->n_retired; k++) mcp_close(cfg->retired[k]);
    free(cfg->retired);
    free(cfg->servers);
    pthread_mutex_destroy(&cfg->mu);
    memset(cfg, 0, sizeof *cfg);
}
