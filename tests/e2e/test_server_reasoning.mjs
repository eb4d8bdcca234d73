// Thinking models through the API, with the official openai client against `omni serve`
// on the random-weight Qwen3 file (it carries Qwen3's real chat template). Random weights
// never write think tags by themselves, so logit_bias pushes the "<think>" and "</think>"
// tokens up until the greedy reply has the shape a thinking model writes:
// "<think> thoughts </think> answer". The same request with reasoning_format "none" gives
// the raw text; "auto" (the default) must give exactly the split of that raw text made by
// the plain rule written here (thoughts trimmed, whitespace after </think> dropped), both
// whole and streamed as delta.reasoning_content chunks. Also: chat_template_kwargs
// enable_thinking false and reasoning_effort "none" reach the template (Qwen3 then writes
// an empty think block into the prompt), /v1/completions stays raw, bad values are 400s.
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(8);
const MODEL = `${MODELS}/synth/synth-qwen3-f16.gguf`;
const THINK = 16408, END_THINK = 16409;   // "<think>", "</think>" in this vocabulary (omni tokenize)
const BIAS = { [THINK]: 15, [END_THINK]: 18.8 };
const MSGS = [{ role: "user", content: "Hi" }];

const WS = /^[ \n\t\r]+|[ \n\t\r]+$/g;
function splitThink(raw) {
  const m = raw.match(/^[ \n\t\r]*<think>/);
  if (!m) return { reasoning: "", content: raw };
  const s = raw.slice(m[0].length), i = s.indexOf("</think>");
  if (i < 0) return { reasoning: s.replace(WS, ""), content: "" };
  return { reasoning: s.slice(0, i).replace(WS, ""), content: s.slice(i + 8).replace(/^[ \n\t\r]+/, "") };
}

let srv, client, raw;
const base = { model: "synth-qwen3-f16", messages: MSGS, temperature: 0, max_tokens: 16, logit_bias: BIAS };

await test("server starts on the Qwen3 file", async () => {
  srv = await startServer(["-m", MODEL, "--ctx", "512", "--parallel", "2"]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
});

await test("reasoning_format none: the raw text, tags included", async () => {
  const r = await client.chat.completions.create({ ...base, reasoning_format: "none" });
  raw = r.choices[0].message.content;
  eq(r.choices[0].message.reasoning_content, undefined, "no reasoning_content when not split");
  const sp = splitThink(raw);
  assert(raw.startsWith("<think>") && sp.reasoning.length > 0 && sp.content.length > 0,
         `the biased reply should have thoughts and an answer, got ${JSON.stringify(raw)}`);
});

await test("auto: message.reasoning_content holds the thoughts, content the answer", async () => {
  const r = await client.chat.completions.create(base);
  const m = r.choices[0].message, want = splitThink(raw);
  eq(m.reasoning_content, want.reasoning, "reasoning_content");
  eq(m.content, want.content, "content");
  assert(!m.reasoning_content.includes("<think>"), "the opening tag is gone");
  eq(r.usage.completion_tokens, 16, "completion tokens");
});

await test("stream: delta.reasoning_content chunks, then content, same texts", async () => {
  const stream = await client.chat.completions.create({ ...base, stream: true });
  let reasoning = "", content = "", sawContent = false, reasoningAfterContent = false, nReasoning = 0;
  for await (const chunk of stream) {
    const d = chunk.choices[0] && chunk.choices[0].delta;
    if (!d) continue;
    if (d.reasoning_content) { reasoning += d.reasoning_content; nReasoning++; if (sawContent) reasoningAfterContent = true; }
    if (d.content) { content += d.content; sawContent = true; }
  }
  const want = splitThink(raw);
  eq(reasoning, want.reasoning, "streamed reasoning");
  eq(content, want.content, "streamed content");
  assert(nReasoning >= 1 && !reasoningAfterContent, "thoughts stream before the answer");
});

await test("logprobs still cover every token when tags are taken out", async () => {
  const r = await client.chat.completions.create({ ...base, logprobs: true });
  eq(r.choices[0].logprobs.content.length, r.usage.completion_tokens, "one logprob entry per token");
});

await test("enable_thinking false and reasoning_effort none reach the template", async () => {
  const on = await client.chat.completions.create({ ...base, max_tokens: 1 });
  const off = await client.chat.completions.create({ ...base, max_tokens: 1, chat_template_kwargs: { enable_thinking: false } });
  const none = await client.chat.completions.create({ ...base, max_tokens: 1, reasoning_effort: "none" });
  // Qwen3's template adds "<think>\n\n</think>\n\n" to the prompt when thinking is off
  assert(off.usage.prompt_tokens > on.usage.prompt_tokens, `prompt ${off.usage.prompt_tokens} vs ${on.usage.prompt_tokens}`);
  eq(none.usage.prompt_tokens, off.usage.prompt_tokens, "reasoning_effort none = enable_thinking false");
});

await test("/v1/completions stays raw", async () => {
  const r = await client.completions.create({ model: base.model, prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                                             temperature: 0, max_tokens: 16, logit_bias: BIAS });
  eq(r.choices[0].text, raw, "same text as the raw chat reply");
  eq(r.choices[0].reasoning_content, undefined, "no reasoning field");
});

await test("bad reasoning_format, chat_template_kwargs, enable_thinking are 400s naming the field", async () => {
  for (const [body, param] of [[{ reasoning_format: "xml" }, "reasoning_format"],
                               [{ chat_template_kwargs: "yes" }, "chat_template_kwargs"],
                               [{ chat_template_kwargs: { enable_thinking: "no" } }, "chat_template_kwargs.enable_thinking"],
                               [{ reasoning_effort: 3 }, "reasoning_effort"]]) {
    let err;
    try { await client.chat.completions.create({ ...base, max_tokens: 1, ...body }); } catch (e) { err = e; }
    assert(err && err.status === 400, `${param}: expected a 400, got ${err && err.status}`);
    eq(err.error && err.error.param, param, "param");
  }
});

if (srv) await stopServer(srv);
summary();
