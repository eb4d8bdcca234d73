// The OpenAI Agents SDK (@openai/agents) runs a small agent with a function tool against
// omni, over the Responses API and over chat completions: the SDK sends the tool, the
// random-weight model is forced to call it (modelSettings.toolChoice; its arguments are
// constrained by the tool's JSON schema, so they validate), the SDK runs the function,
// sends its output back, and the model finishes (tool choice reset to auto). Also a
// streamed run, and an agent handing off to another (the SDK's handoff is a function).
import OpenAI from "openai6";
import { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } from "@openai/agents";
import { z } from "zod";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(5);

let srv;
try {
  srv = await startServer(["-m", `${MODELS}/synth/synth-qwen3-f16.gguf`, "--ctx", "2048", "--parallel", "2"]);
} catch (e) {
  await test("server starts", () => { throw e; });
  process.exit(summary());
}
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
setDefaultOpenAIClient(client);
setTracingDisabled(true);
const model = (await client.models.list()).data[0].id;

const WEATHER = { "Paris": "18°C, cloudy", "서울": "3°C, clear" };
function makeTool(calls) {
  return tool({
    name: "get_weather",
    description: "The weather now in a city",
    parameters: z.object({ city: z.enum(["Paris", "서울"]) }),
    execute: async ({ city }) => { calls.push(city); return `${city}: ${WEATHER[city]}`; },
  });
}
function makeAgent(calls, extra = {}) {
  return new Agent({
    name: "Weather agent",
    instructions: "Answer with the weather tool.",
    model,
    tools: [makeTool(calls)],
    modelSettings: { toolChoice: "get_weather", temperature: 0, maxTokens: 60 },
    ...extra,
  });
}

function checkRun(result, calls, api) {
  const kinds = result.newItems.map((i) => i.type);
  const callIdx = kinds.indexOf("tool_call_item"), outIdx = kinds.indexOf("tool_call_output_item");
  assert(callIdx >= 0 && outIdx > callIdx, `${api}: the call, then its output: ${kinds}`);
  const call = result.newItems[callIdx].rawItem;
  eq(call.name, "get_weather", "the function");
  const args = JSON.parse(call.arguments);
  assert(["Paris", "서울"].includes(args.city) && Object.keys(args).length === 1, "arguments validate: " + call.arguments);
  eq(calls[0], args.city, "the SDK ran the function with the model's arguments");
  eq(result.newItems[outIdx].output, `${args.city}: ${WEATHER[args.city]}`, "its output went back");
  assert(result.rawResponses.length >= 2, `${api}: a second model turn after the tool: ${result.rawResponses.length}`);
  assert(typeof result.finalOutput === "string", "a final answer");
  // the second turn's prompt holds the call and its output
  const [u1, u2] = result.rawResponses.map((r) => r.usage.inputTokens);
  assert(u2 > u1, `${api}: the tool turn is in the next prompt (${u1} → ${u2})`);
}

await test("Responses API: an agent calls its function tool, gets the result, finishes", async () => {
  setOpenAIAPI("responses");
  const calls = [];
  const result = await run(makeAgent(calls), "What is the weather in Paris?", { maxTurns: 6 });
  checkRun(result, calls, "responses");
});

await test("chat completions: the same agent over /v1/chat/completions", async () => {
  setOpenAIAPI("chat_completions");
  const calls = [];
  const result = await run(makeAgent(calls), "서울 날씨 어때?", { maxTurns: 6 });
  checkRun(result, calls, "chat");
  setOpenAIAPI("responses");
});

await test("a streamed run: the SDK's events, the tool run, its output as the final output", async () => {
  const calls = [];
  // the forced call's reply ends with the call (response.completed); a random answer after
  // it would run into maxTokens, and the SDK reads a streamed response.incomplete as none
  const stream = await run(makeAgent(calls, { toolUseBehavior: "stop_on_first_tool" }), "Weather in Paris?", { stream: true, maxTurns: 6 });
  const names = [];
  for await (const ev of stream) if (ev.type === "run_item_stream_event") names.push(ev.name);
  await stream.completed;
  assert(names.includes("tool_called") && names.includes("tool_output"), "run item events: " + names);
  eq(calls.length >= 1, true, "the function ran");
  eq(stream.finalOutput, `${calls[0]}: ${WEATHER[calls[0]]}`, "the tool's output is the final output");
});

await test("a handoff: the triage agent is forced to hand off (the SDK's transfer_to_… function), the weather agent runs its tool", async () => {
  const calls = [];
  const weather = makeAgent(calls, { handoffDescription: "Knows the weather" });
  const triage = new Agent({ name: "Triage", instructions: "Hand off weather questions.", model, handoffs: [weather],
                             modelSettings: { toolChoice: "transfer_to_Weather_agent", temperature: 0, maxTokens: 100 } });
  const result = await run(triage, "Weather in Paris?", { maxTurns: 8 });
  eq(result.lastAgent.name, "Weather agent", "handed off: " + result.newItems.map((i) => i.type) + " " + JSON.stringify(result.rawResponses[0].output));
  assert(result.newItems.some((i) => i.type === "handoff_output_item"), "the handoff item");
  eq(calls.length >= 1, true, "the weather agent's tool ran");
});

await test("the server exits cleanly (no sanitizer report under make check-asan)", async () => {
  eq(await stopServer(srv), 0, "exit code");
});
process.exit(summary());
