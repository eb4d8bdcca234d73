// A local MCP server on stdin/stdout (the official SDK's stdio transport), for
// `omni serve --mcp NAME=COMMAND` in test_server_agent_tools.mjs: one tool whose answer
// names this process, so the test can see that one process serves every request.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const s = new McpServer({ name: "omni-test-stdio", version: "1.0.0" });
let n = 0;
s.registerTool("count", { description: "Counts the calls", inputSchema: { word: z.enum(["하나", "two"]) } },
               async ({ word }) => ({ content: [{ type: "text", text: `${word} #${++n} from ${process.pid}` }] }));
await s.connect(new StdioServerTransport());
