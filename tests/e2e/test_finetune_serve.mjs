// A fine-tuned adapter answers through the API: `omni finetune` trains a LoRA adapter on
// stories260K (60 chats whose answer is always "Zip zap, said the moon."), then
// `omni serve --lora` answers a held-out question in /v1/chat/completions with that
// sentence (the chat is rendered through the same template the trainer used: ChatML,
// the model having none), while the same server without the adapter does not.
import OpenAI from "openai";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServer, stopServer, makeCounter, assert, MODELS, BIN } from "./server_helpers.mjs";

const { test, summary } = makeCounter(4);
const MODEL = `${MODELS}/llm/stories260K.gguf`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omni-ft-serve-"));
const lines = [];
for (const a of ["duck", "lion", "pig", "cow", "fox", "owl"])
  for (const t of ["ball", "tree", "car", "hat", "cake", "box", "boat", "kite", "sun", "toy"])
    lines.push(JSON.stringify({ messages: [{ role: "user", content: `Tell me a story about a ${a} and a ${t}.` },
                                           { role: "assistant", content: "Zip zap, said the moon." }] }));
fs.writeFileSync(`${dir}/sft.jsonl`, lines.join("\n") + "\n");
const adapter = `${dir}/adapter.gguf`;
const question = [{ role: "user", content: "What did the little boy see?" }];

async function answer(args) {
  const srv = await startServer(["-m", MODEL, "--ctx", "256", ...args]);
  try {
    const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
    const r = await client.chat.completions.create({ model: "stories260K", messages: question, max_tokens: 16,
                                                     temperature: 0 });
    return r.choices[0].message.content;
  } finally { await stopServer(srv); }
}

try {
  await test("omni finetune writes an adapter", async () => {
    execFileSync(BIN, ["finetune", "-m", MODEL, "--data", `${dir}/sft.jsonl`, "-o", adapter, "--rank", "8",
                       "--alpha", "16", "--lr", "3e-3", "--epochs", "2", "--ctx", "128", "--seed", "7", "-t", "2",
                       "--quiet"], { stdio: ["ignore", "ignore", "pipe"] });
    assert(fs.statSync(adapter).size > 0, "adapter file");
  });
  await test("serve --lora answers with the trained sentence", async () => {
    const text = await answer(["--lora", adapter]);
    assert(text.includes("Zip zap, said the moon."), `answer '${text}'`);
  });
  await test("the base model does not", async () => {
    const text = await answer([]);
    assert(!text.includes("Zip zap"), `answer '${text}'`);
  });
  await test("serve --adapter NAME=FILE: MODEL+NAME gets it, the base beside it does not", async () => {
    const srv = await startServer(["-m", MODEL, "--ctx", "256", "--parallel", "2", "--adapter", `moon=${adapter}:1`]);
    try {
      const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
      const ask = (model) => client.chat.completions.create({ model, messages: question, max_tokens: 16, temperature: 0 });
      const [a, b] = await Promise.all([ask("stories260K+moon"), ask("stories260K")]);
      assert(a.choices[0].message.content.includes("Zip zap, said the moon."), `adapter: '${a.choices[0].message.content}'`);
      assert(!b.choices[0].message.content.includes("Zip zap"), `base: '${b.choices[0].message.content}'`);
      let status = 0;
      try { await ask("stories260K+nope"); } catch (e) { status = e.status; }
      assert(status === 404, "an unknown adapter is a 404, got " + status);
    } finally { await stopServer(srv); }
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
summary();
