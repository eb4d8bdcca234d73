// Bundles the web app for embedding: src/main.js (and the npm packages it imports) into
// a minified app.js and the chunks it loads on demand, src/style.css plus KaTeX's CSS into app.css, KaTeX's woff2 fonts
// (fetched by the browser only when a formula is shown), and public/ as is.
// Usage: node web/build.mjs OUTDIR   (run by `make`; scripts/embed_web.sh embeds OUTDIR)
import * as esbuild from "esbuild";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] || path.join(here, "../build/web"));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "fonts"), { recursive: true });

// app.js (an ES module) and its chunks: heavy.js (KaTeX, highlight.js) is split off and
// loaded on first use
await esbuild.build({
  entryPoints: { app: path.join(here, "src/main.js") }, bundle: true, minify: true, format: "esm", splitting: true,
  target: ["chrome100", "firefox100", "safari15"], outdir: out, chunkNames: "chunk-[hash]", legalComments: "none",
  logLevel: "warning",
});
// KaTeX's CSS names its fonts as fonts/X.woff2 (and .woff/.ttf fallbacks, which every
// browser we target skips); keep the woff2 ones only, so the binary stays small.
const katexDir = path.join(here, "node_modules/katex/dist");
let katexCss = fs.readFileSync(path.join(katexDir, "katex.min.css"), "utf8")
  .replace(/,url\(fonts\/[^)]+\.woff\) format\("woff"\)/g, "")
  .replace(/,url\(fonts\/[^)]+\.ttf\) format\("truetype"\)/g, "")
  .replace(/url\(fonts\//g, "url(/fonts/");
for (const f of fs.readdirSync(path.join(katexDir, "fonts")))
  if (f.endsWith(".woff2")) fs.copyFileSync(path.join(katexDir, "fonts", f), path.join(out, "fonts", f));
const css = await esbuild.transform(fs.readFileSync(path.join(here, "src/style.css"), "utf8"), { loader: "css", minify: true });
fs.writeFileSync(path.join(out, "app.css"), katexCss + "\n" + css.code);
for (const f of fs.readdirSync(path.join(here, "public"))) fs.copyFileSync(path.join(here, "public", f), path.join(out, f));
// gzip twins of the text files: the server sends X.gz to browsers that accept gzip
import * as zlib from "node:zlib";
for (const f of fs.readdirSync(out))
  if (/\.(html|js|css)$/.test(f))
    fs.writeFileSync(path.join(out, f + ".gz"), zlib.gzipSync(fs.readFileSync(path.join(out, f)), { level: 9 }));
