/* The MCP client over stdio against scripted servers (sh): the handshake, tools/list
 * over two pages with log lines and notifications in between, tools/call's content
 * joined, a JSON-RPC error, isError, a server that stops answering (the deadline), one that exits
 * at once, one that writes an endless line (the size limit). The request ids are the
 * client's sequence: initialize 1, tools/list 2 and 3, then the calls. */
#include "test.h"
#include "tools/mcp.h"

static const char *GOOD =
    "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}'\n"
    "read l\n"
    "read l; echo 'a log line, not JSON'; echo '{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}'\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"t1\",\"description\":\"one\",\"inputSchema\":"
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}],\"nextCursor\":\"p2\"}}'\n"
    "read l; case \"$l\" in *p2*) ;; *) exit 3;; esac\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"t2\",\"annotations\":{\"readOnlyHint\":true}}]}}'\n"
    "read l; case \"$l\" in *'\"a\":7'*) ;; *) exit 4;; esac\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"안녕\"},{\"type\":\"text\",\"text\":\"world\"}]}}'\n"
    "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32602,\"message\":\"bad args\"}}'\n"
    "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"it broke\"}]}}'\n"
    "read l; exec sleep 100\n";   /* answers nothing more (the test closes it) */

TEST(stdio_server) {
    char err[400] = "";
    mcp_client *m = NULL;
    /* deadlines far away (a busy machine): only the hang below waits for its own */
    REQUIRE(mcp_connect_stdio(GOOD, 30000, &m, err, sizeof err) == 0, "%s", err);
    cJSON *tools = NULL;
    REQUIRE(mcp_list_tools(m, &tools, err, sizeof err) == 0, "%s", err);
    char *s = cJSON_PrintUnformatted(tools);
    CHECK_STR(s, "[{\"name\":\"t1\",\"description\":\"one\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"a\":"
                 "{\"type\":\"integer\"}}},\"annotations\":null},{\"name\":\"t2\",\"description\":null,\"input_schema\":"
                 "{\"type\":\"object\"},\"annotations\":{\"readOnlyHint\":true}}]");
    free(s);
    cJSON_Delete(tools);
    char *out = NULL;
    int is_error = -1;
    REQUIRE(mcp_call_tool(m, "t1", "{\"a\":7}", &out, &is_error, err, sizeof err) == 0, "%s", err);
    CHECK_STR(out, "안녕\nworld");
    CHECK_EQ_INT(is_error, 0);
    free(out);
    CHECK(mcp_call_tool(m, "t1", "{}", &out, &is_error, err, sizeof err) == -1 && strstr(err, "-32602: bad args"));
    REQUIRE(mcp_call_tool(m, "t2", "{}", &out, &is_error, err, sizeof err) == 0, "%s", err);
    CHECK(is_error == 1 && out && !strcmp(out, "it broke"));
    free(out);
    CHECK(mcp_call_tool(m, "t1", "[1]", &out, &is_error, err, sizeof err) == -1 && strstr(err, "not a JSON object"));
    mcp_close(m);   /* ends the sleeping server */
}

TEST(hostile_stdio_servers) {
    char err[400] = "";
    mcp_client *m = NULL;
    CHECK(mcp_connect_stdio("exit 0", 30000, &m, err, sizeof err) == -1 && strstr(err, "has exited") && !m);
    err[0] = 0;
    CHECK_MSG(mcp_connect_stdio("read l; exec sleep 100", 1000, &m, err, sizeof err) == -1 && strstr(err, "did not answer within 1000 ms"),
              "%s", err);
    err[0] = 0;
    CHECK_MSG(mcp_connect_stdio("read l; head -c 5000000 /dev/zero | tr '\\000' a; exec sleep 100", 20000, &m, err,
                                sizeof err) == -1 && strstr(err, "longer than"), "%s", err);
    err[0] = 0;
    CHECK_MSG(mcp_connect_stdio("read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}'; exec sleep 100", 30000, &m, err,
                                sizeof err) == -1 && strstr(err, "no protocolVersion"), "%s", err);
    err[0] = 0;
    CHECK_MSG(mcp_connect_stdio("read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"x\"}}'; read l; "
                                "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"description\":\"no name\"}]}}'; "
                                "exec sleep 100", 30000, &m, err, sizeof err) == 0, "%s", err);
    cJSON *tools = NULL;
    CHECK(mcp_list_tools(m, &tools, err, sizeof err) == -1 && !tools && strstr(err, "without a valid name"));
    mcp_close(m);
}

TEST(http_urls_only) {
    char err[400] = "";
    mcp_client *m = NULL;
    CHECK(mcp_connect_http("file:///etc/passwd", NULL, 1000, &m, err, sizeof err) == -1 && strstr(err, "http://"));
    CHECK(mcp_connect_http("gopher://x", NULL, 1000, &m, err, sizeof err) == -1 && !m);
    cJSON *h = cJSON_Parse("{\"X-Bad\":\"a\\r\\nInjected: 1\"}");
    CHECK(mcp_connect_http("http://127.0.0.1:1/mcp", h, 1000, &m, err, sizeof err) == -1 && strstr(err, "line breaks"));
    cJSON_Delete(h);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(stdio_server);
    RUN(hostile_stdio_servers);
    RUN(http_urls_only);
    return test_summary();
}
