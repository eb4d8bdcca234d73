// response_format json_schema end to end: the official openai client against `omni serve`
// on the random-weight SmolLM2 model, whose free output is never JSON. Every reply must
// parse and pass a small validator for the schema subset (written here, independent of
// the server's matcher); a bad schema is a 400 naming the field.
import OpenAI from "openai";
import { startServer, stopServer, makeCounter, assert, eq, MODELS } from "./server_helpers.mjs";

const { test, summary } = makeCounter(6);
const MODEL = `${MODELS}/synth/synth-smollm2-f16.gguf`;

// The JSON Schema subset the server enforces, checked the plain way.
function validate(schema, v, root = schema, path = "$") {
  const fail = (why) => { throw new Error(`${path}: ${why} (${JSON.stringify(v)})`); };
  if (schema === true) return;
  if (schema.$ref) return validate(root.$defs[schema.$ref.split("/").pop()], v, root, path);
  if ("const" in schema) { if (JSON.stringify(schema.const) !== JSON.stringify(v)) fail("not the const"); return; }
  if (schema.enum) { if (!schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) fail("not in enum"); return; }
  if (schema.anyOf) {
    for (const alt of schema.anyOf) { try { validate(alt, v, root, path); return; } catch {} }
    fail("matches no anyOf branch");
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : null;
  if (types && types.length > 1) {
    for (const t of types) { try { validate({ ...schema, type: t }, v, root, path); return; } catch {} }
    fail("matches none of " + types);
  }
  switch (types && types[0]) {
    case "null": if (v !== null) fail("not null"); break;
    case "boolean": if (typeof v !== "boolean") fail("not a boolean"); break;
    case "number": if (typeof v !== "number") fail("not a number"); break;
    case "integer": if (!Number.isInteger(v)) fail("not an integer"); break;
    case "string": {
      if (typeof v !== "string") fail("not a string");
      const n = [...v].length;
      if (schema.maxLength !== undefined && n > schema.maxLength) fail("too long");
      if (schema.minLength !== undefined && n < schema.minLength) fail("too short");
      break;
    }
    case "array":
      if (!Array.isArray(v)) fail("not an array");
      if (schema.maxItems !== undefined && v.length > schema.maxItems) fail("too many items");
      if (schema.minItems !== undefined && v.length < schema.minItems) fail("too few items");
      v.forEach((x, i) => schema.items && validate(schema.items, x, root, `${path}[${i}]`));
      break;
    case "object":
      if (typeof v !== "object" || v === null || Array.isArray(v)) fail("not an object");
      for (const k of schema.required || []) if (!(k in v)) fail("missing " + k);
      for (const [k, x] of Object.entries(v)) {
        if (schema.properties && k in schema.properties) validate(schema.properties[k], x, root, `${path}.${k}`);
        else if (schema.additionalProperties === false) fail("unexpected key " + k);
      }
      break;
  }
}

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    age: { type: "integer" },
    mood: { enum: ["happy", "sad", "calm"] },
    tags: { type: "array", items: { type: "string", maxLength: 8 }, minItems: 1, maxItems: 3 },
    pet: { anyOf: [{ type: "null" }, { $ref: "#/$defs/pet" }] },
  },
  required: ["name", "age", "mood", "tags", "pet"],
  additionalProperties: false,
  $defs: { pet: { type: "object", properties: { kind: { const: "cat" }, legs: { type: "number" } },
    required: ["kind", "legs"], additionalProperties: false } },
};

let srv, client;
try {
  srv = await startServer(["-m", MODEL, "--parallel", "2", "--ctx", "512"]);
  client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0 });
  const base = { model: "synth-smollm2-f16", messages: [{ role: "user", content: "Describe a person as JSON." }], max_tokens: 160 };
  const rf = (schema, strict = true) => ({ type: "json_schema", json_schema: { name: "person", strict, schema } });

  await test("the validator itself rejects wrong documents", async () => {
    let threw = 0;
    for (const bad of [{}, { name: "a", age: 1.5, mood: "happy", tags: ["x"], pet: null },
      { name: "a", age: 1, mood: "angry", tags: ["x"], pet: null }, { name: "a", age: 1, mood: "sad", tags: [], pet: null },
      { name: "a", age: 1, mood: "sad", tags: ["x"], pet: { kind: "dog", legs: 4 } }]) {
      try { validate(PERSON, bad); } catch { threw++; }
    }
    eq(threw, 5, "all five rejected");
    validate(PERSON, { name: "a", age: 1, mood: "sad", tags: ["x"], pet: { kind: "cat", legs: 4 } });
  });

  await test("without a schema the random model does not write JSON", async () => {
    const r = await client.chat.completions.create({ ...base, temperature: 0, max_tokens: 40 });
    let parses = true;
    try { JSON.parse(r.choices[0].message.content); } catch { parses = false; }
    assert(!parses, "free output parsed as JSON: " + r.choices[0].message.content);
  });

  await test("greedy and sampled replies parse and match the schema", async () => {
    for (const [temperature, seed] of [[0, 1], [1, 1], [1, 2], [0.8, 3], [1.2, 4]]) {
      const r = await client.chat.completions.create({ ...base, temperature, seed, response_format: rf(PERSON) });
      const text = r.choices[0].message.content;
      let doc;
      try { doc = JSON.parse(text); } catch (e) { throw new Error(`t=${temperature} seed=${seed}: not JSON: ${text}`); }
      validate(PERSON, doc);
      if (seed === 2) console.log("  e.g. " + text);
      eq(r.choices[0].finish_reason, "stop", "ends at the end of the document");
    }
  });

  await test("streamed reply (non-strict schema, array at the top) matches too", async () => {
    const schema = { type: "array", items: { anyOf: [{ type: "boolean" }, { type: "integer" }] }, minItems: 2, maxItems: 5 };
    const stream = await client.chat.completions.create({ ...base, temperature: 1, seed: 7, stream: true,
      response_format: rf(schema, false) });
    let text = "";
    for await (const ch of stream) text += ch.choices[0]?.delta?.content || "";
    validate(schema, JSON.parse(text));
  });

  await test("/v1/completions takes response_format too", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false };
    const r = await client.completions.create({ model: "synth-smollm2-f16", prompt: "Answer:", max_tokens: 40, temperature: 1, seed: 5,
      response_format: rf(schema) });
    validate(schema, JSON.parse(r.choices[0].text));
  });

  await test("an unsupported or broken schema is a 400 naming the field", async () => {
    for (const [schema, want] of [[{ type: "strng" }, /unknown type 'strng'/], [{ not: {} }, /'not' is not supported/],
      [{ type: "object", properties: { a: { $ref: "#/$defs/nope" } } }, /\$ref/]]) {
      let err;
      try { await client.chat.completions.create({ ...base, response_format: rf(schema) }); } catch (e) { err = e; }
      assert(err && err.status === 400, "status 400: " + err);
      eq(err.param, "response_format.json_schema.schema", "param");
      assert(want.test(err.message), err.message);
    }
    let err;
    try { await client.chat.completions.create({ ...base, response_format: { type: "json_schema" } }); } catch (e) { err = e; }
    assert(err && err.status === 400 && err.param === "response_format.json_schema", "missing json_schema: " + err);
  });
} catch (e) {
  console.log("FAIL setup: " + (e && e.stack ? e.stack : e));
  await test("setup", async () => { throw e; });
} finally {
  if (srv) eq(await stopServer(srv), 0, "server exit code");
}
process.exit(summary());
