// One measurement for bench_server.sh: N concurrent streaming /v1/completions against
// an OpenAI-compatible server (omni serve or llama-server), each generating TOKENS tokens.
// Prints one JSON line: aggregate decode tokens/s over all streams, mean and worst time to
// first token, and the tokens actually generated. No npm packages: plain fetch + SSE.
// LONG > 0 pads stream 0's prompt with LONG more words: does one long prompt hold up
// the others' first tokens and stall their decoding?
//   node bench/bench_server_load.mjs URL CONCURRENCY TOKENS [ROUNDS] [LONG]
const [url, conc = "1", tokens = "64", rounds = "2", long = "0"] = process.argv.slice(2);
const N = +conc, T = +tokens, R = +rounds, L = +long;

async function stream(i, r) {
  const t0 = performance.now();
  const res = await fetch(url + "/v1/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: `Stream ${i} round ${r}: once upon a time there was` +
      (i === 0 && L > 0 ? " and then".repeat(Math.ceil(L / 2)) : ""), max_tokens: T,
      temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = -1, chunks = 0, usage = null, buf = "";
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, k).trim();
      buf = buf.slice(k + 1);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const j = JSON.parse(line.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices && j.choices.length && j.choices[0].text !== undefined) {
        if (ttft < 0) ttft = performance.now() - t0;
        chunks++;
      }
    }
  }
  return { ttft, t_end: performance.now(), t0, n: usage ? usage.completion_tokens : chunks };
}

// One untimed round first: the first forwards of a fresh server fault the mmap'ed
// weights and each slot's KV pages in (seconds on a loaded box), which is start-up
// cost, not the time to first token a user sees on a running server.
await Promise.all(Array.from({ length: N }, (_, i) => stream(i, -1)));
let best = null, ttftSum = 0, ttftMax = 0;
for (let r = 0; r < R; r++) { // decode rate: the best round; TTFT: mean and worst over all rounds
  const start = performance.now();
  const res = await Promise.all(Array.from({ length: N }, (_, i) => stream(i, r)));
  const end = Math.max(...res.map((x) => x.t_end));
  // decode rate: tokens after each stream's first one, over the time from the first
  // first-token to the last stream's end (prefill excluded, as llama-bench's tg is).
  const firstTok = Math.min(...res.map((x) => x.t0 + x.ttft));
  const decoded = res.reduce((a, x) => a + Math.max(0, x.n - 1), 0);
  const out = {
    concurrency: N,
    tokens: res.reduce((a, x) => a + x.n, 0),
    decode_tokens_per_s: decoded / ((end - firstTok) / 1000),
    total_tokens_per_s: res.reduce((a, x) => a + x.n, 0) / ((end - start) / 1000),
    ttft_ms_mean: res.reduce((a, x) => a + x.ttft, 0) / N,
    ttft_ms_max: Math.max(...res.map((x) => x.ttft)),
  };
  ttftSum += out.ttft_ms_mean;
  ttftMax = Math.max(ttftMax, out.ttft_ms_max);
  if (!best || out.decode_tokens_per_s > best.decode_tokens_per_s) best = out;
}
best.ttft_ms_mean = ttftSum / R;
best.ttft_ms_max = ttftMax;
console.log(JSON.stringify(best));
