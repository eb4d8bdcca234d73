/* Built-in tools: tools the server runs itself when the model calls them, enabled per
 * request next to the caller's own functions.
 *
 *   {"type": "data_analysis", "tables": [{"name": "sales", "csv": "..."}]}
 *       (or {"name", "xlsx": base64 or a data: URI, "sheet": optional}, tools/xlsx.h)
 *       the tables go into a private in-memory SQLite database (tools/sqltool.h); the
 *       model gets two functions, `query` {sql} (the result comes back as a table) and
 *       `chart` {sql, mark, x, y, title} (a Vega-Lite spec of the query's result).
 *       omni's "limits": {"max_rows", "timeout_ms", "max_sql_length"} tighten or widen
 *       the defaults (1000 rows, 10 s, 8000 characters) within fixed bounds.
 *   {"type": "mcp", "server_label": "docs", "server_url": "https://…/mcp",
 *    "allowed_tools": [..] or {"tool_names": [..]}, "require_approval": "never" | "always"
 *    | {"never": {"tool_names": [..]}, "always": {"tool_names": [..]}}, "headers": {..}}
 *       ("timeout_ms": omni's, per exchange with the server; default 30 s)
 *       the server's tools (tools/list, tools/mcp.h) offered as functions, tools/call
 *       run by the server; without server_url, server_label names a server the admin
 *       configured (`omni serve --mcp NAME=COMMAND`, the stdio transport).
 *
 *   {"type": "calculator", "timezone": "Asia/Seoul"}
 *       the function `calculator` {expression}: exact arithmetic, units and dates
 *       (tools/calc.h); "timezone" (default UTC) says which day "today" is; omni's
 *       "limits": {"max_expression_length": 16..1000, "timeout_ms": 100..60000 (2 s)}.
 *   {"type": "current_time", "timezone": "Asia/Seoul"}
 *       the function `current_time` {timezone}: the time now in an IANA zone (the system's
 *       tz database, tools/tz.h), the tool's timezone (default UTC) when the call names none.
 *
 * Every run has its limits (the SQL tool's, the MCP client's deadline and size) and what
 * goes back to the model is cut at BUILTIN_RESULT_MAX bytes. */
#ifndef OMNI_TOOLS_BUILTIN_H
#define OMNI_TOOLS_BUILTIN_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "tools/mcp.h"
#include "tools/sqltool.h"

#define BUILTIN_RESULT_MAX 16384
#define BUILTIN_MAX_SERVERS 8

enum builtin_kind { BUILTIN_QUERY, BUILTIN_CHART, BUILTIN_MCP, BUILTIN_CALC, BUILTIN_TIME };

struct builtin_fn {
    char name[72];           /* the function the model sees (an MCP tool keeps its name) */
    enum builtin_kind kind;
    int server;              /* BUILTIN_MCP: its servers[] index */
    int approval;            /* the call waits for an mcp_approval_response */
};

struct builtin_server {
    char label[64];
    mcp_client *cl;          /* owned, unless shared (a configured stdio server) */
    int shared;
    cJSON *tools;            /* tools/list, as the mcp_list_tools item shows them */
};

/* MCP servers the admin configured for `omni serve --mcp NAME=COMMAND` (stdio): each
 * command is started on the first request that names it and then shared by all; one
 * that has ended is started again by the next request. */
struct builtin_stdio {
    char label[64];
    char *command;
    mcp_client *cl;          /* NULL until started */
};
struct builtin_config {
    int n;
    struct builtin_stdio *servers;
    pthread_mutex_t mu;
    int timeout_ms;
    mcp_client **retired;    /* clients of commands that ended (freed with the config) */
    int n_retired;
};
/* 0, or -1 with err (not NAME=COMMAND, a repeated NAME, out of memory). */
int builtin_config_add(struct builtin_config *cfg, const char *spec, char *err, size_t cap);
void builtin_config_free(struct builtin_config *cfg);

struct builtin_set {
    sql_db *db;
    struct builtin_server servers[BUILTIN_MAX_SERVERS];
    int n_servers;
    struct builtin_fn *fns;
    int n_fns;
    cJSON *functions;        /* the tools offered to the model, in the chat API's form */
    char calc_tz[64];        /* the calculator's "today" zone */
    char time_tz[64];        /* current_time's zone when a call names none */
    int64_t now;             /* 0: the clock; else the instant every run sees (tests) */
    int calc_timeout_ms;     /* the calculator's time limit (0: 2 s) */
};

/* Reads a tools array (chat completions' form: function tools are {type, function};
 * built-ins as above) into set: the caller's functions copied, the built-ins opened
 * (tables loaded, MCP servers connected and listed). 0 (set->n_fns may be 0), or an HTTP
 * status with param and msg: 400 for a malformed tool, 424 when an MCP server cannot be
 * reached or listed. cfg may be NULL. */
int builtin_parse(const cJSON *tools, struct builtin_config *cfg, struct builtin_set *set, char *param,
                  size_t param_cap, char *msg, size_t msg_cap);
void builtin_free(struct builtin_set *set);
/* 1 when tools has a tool of a built-in type (data_analysis, mcp, calculator, current_time). */
int builtin_wanted(const cJSON *tools);

/* The built-in function called name, or -1 (a caller's function, or unknown). */
int builtin_find(const struct builtin_set *set, const char *name);

/* The output item's type for built-in function fn: data_analysis_call, mcp_call,
 * calculator_call or current_time_call. */
const char *builtin_item_type(const struct builtin_set *set, int fn);

/* Runs built-in function fn with the model's arguments (JSON text). Fills item with the
 * run's fields for its output item (data_analysis_call: name, arguments, sql, result or
 * chart, output, error; mcp_call: server_label, name, arguments, output, error) and sets
 * *for_model to what the model reads back (malloc'ed, at most BUILTIN_RESULT_MAX bytes).
 * Returns 0 when the tool ran, 1 when it failed (item's error says why; the model reads
 * the error), -1 out of memory. */
int builtin_run(struct builtin_set *set, int fn, const char *args, cJSON *item, char **for_model);

#endif
