/* A Model Context Protocol client: the tools of a remote MCP server (Streamable HTTP
 * transport, JSON-RPC 2.0 over POST with a JSON or text/event-stream answer) or of a
 * local command the admin configured (stdio transport: newline-delimited JSON-RPC on
 * the process's stdin/stdout), listed for the model and called by the server.
 *
 * Why the limits: the server is not ours. Every exchange has a deadline (a server that
 * hangs is an error after timeout_ms, never a stuck request), an answer larger than
 * max_bytes is cut off as an error, only http/https URLs are followed (no redirects),
 * and anything that is not the JSON-RPC answer expected is an error that says so. */
#ifndef OMNI_TOOLS_MCP_H
#define OMNI_TOOLS_MCP_H
#include <stddef.h>

#include <cJSON.h>

typedef struct mcp_client mcp_client;

#define MCP_PROTOCOL_VERSION "2025-06-18"
#define MCP_DEFAULT_TIMEOUT_MS 30000
#define MCP_MAX_BYTES (4u << 20)

/* Connects to url (http or https) and runs the initialize handshake. headers: an object
 * of extra HTTP headers (e.g. Authorization) or NULL. 0, or -1 with err. */
int mcp_connect_http(const char *url, const cJSON *headers, int timeout_ms, mcp_client **out, char *err, size_t cap);
/* Starts `sh -c command` and runs the handshake over its stdin/stdout. */
int mcp_connect_stdio(const char *command, int timeout_ms, mcp_client **out, char *err, size_t cap);
void mcp_close(mcp_client *m);
/* 0 when a stdio server's process has exited (it is then reaped) or an exchange saw it
 * end; 1 otherwise (and always for HTTP). */
int mcp_alive(mcp_client *m);

/* tools/list (all pages): *tools is an array of {name, description, input_schema,
 * annotations} as the Responses API shows them. 0, or -1 with err. */
int mcp_list_tools(mcp_client *m, cJSON **tools, char *err, size_t cap);

/* tools/call: *output is the tool's text content (text parts joined; other parts as
 * their JSON), *is_error the tool's own isError. 0, or -1 with err (transport, protocol
 * or JSON-RPC error). args_json: the arguments object as JSON text. */
int mcp_call_tool(mcp_client *m, const char *name, const char *args_json, char **output, int *is_error, char *err,
                  size_t cap);

#endif
