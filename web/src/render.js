// Messages to safe HTML: Markdown (marked) with GitHub tables, code blocks highlighted
// (highlight.js, a copy button each), $…$ / $$…$$ / \(…\) / \[…\] math (KaTeX). HTML
// written in a message is shown as text, and then every byte goes through DOMPurify:
// nothing a model or a shared conversation writes can run (no <script>, no on* handler,
// no javascript: link), whatever the Markdown produced.
import { Marked } from "marked";
import DOMPurify from "dompurify";

// KaTeX and highlight.js are most of the bundle's weight: they load (heavy.js, a chunk of
// its own) the first time a message has math or code, and the page renders again then.
let heavy = null, loading = null;
const waiters = [];
export function onHeavyLoaded(fn) { waiters.push(fn); }
export function loadHeavy() {
  if (!loading) loading = import("./heavy.js").then((m) => { heavy = m; for (const f of waiters) f(); return m; });
  return loading;
}
export function escapeHtml(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function tex(src, display) {
  if (!heavy) { loadHeavy(); return `<code class="math-src">${escapeHtml(src)}</code>`; }
  try { return heavy.katex.renderToString(src, { displayMode: display, throwOnError: false, output: "htmlAndMathml" }); }
  catch { return `<code>${escapeHtml(src)}</code>`; }
}

// Math as marked extensions, so code spans and blocks keep their dollars.
const mathBlock = {
  name: "mathBlock", level: "block",
  start(s) { const i = s.search(/\$\$|\\\[/); return i < 0 ? undefined : i; },
  tokenizer(s) {
    const m = /^\$\$([\s\S]+?)\$\$/.exec(s) || /^\\\[([\s\S]+?)\\\]/.exec(s);
    if (m) return { type: "mathBlock", raw: m[0], text: m[1].trim() };
  },
  renderer(t) { return `<div class="math">${tex(t.text, true)}</div>`; },
};
const mathInline = {
  name: "mathInline", level: "inline",
  start(s) { const i = s.search(/\$|\\\(/); return i < 0 ? undefined : i; },
  tokenizer(s) {
    const m = /^\$\$([^$]+?)\$\$/.exec(s) || /^\$(?![\s$])([^$\n]+?)(?<!\s)\$(?![0-9])/.exec(s) || /^\\\(([\s\S]+?)\\\)/.exec(s);
    if (m) return { type: "mathInline", raw: m[0], text: m[1], display: m[0].startsWith("$$") };
  },
  renderer(t) { return tex(t.text, t.display); },
};

const md = new Marked({ gfm: true, breaks: true });
md.use({
  extensions: [mathBlock, mathInline],
  renderer: {
    // HTML in a message is shown as the text it is (as ChatGPT does), never as markup
    html({ text }) { return escapeHtml(text); },
    code({ text, lang }) {
      const l = (lang || "").trim().split(/\s+/)[0].toLowerCase();
      let body = escapeHtml(text);
      if (l && !heavy) loadHeavy();
      else if (l && heavy.hljs.getLanguage(l)) {
        try { body = heavy.hljs.highlight(text, { language: l, ignoreIllegals: true }).value; } catch {}
      }
      return `<div class="code"><div class="code-head"><span class="lang">${escapeHtml(l || "text")}</span>` +
        `<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>` +
        `<pre><code class="hljs${l ? " language-" + escapeHtml(l) : ""}">${body}</code></pre></div>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

// The sanitizer's settings: HTML + MathML (KaTeX's output), no forms, no <style>, no
// data: or javascript: URLs in links (images may be data: URIs the user attached).
const PURIFY = {
  FORBID_TAGS: ["style", "form", "input", "textarea", "select", "iframe", "object", "embed"],
  FORBID_ATTR: ["srcset", "action", "formaction"],
};

export function sanitize(html) { return DOMPurify.sanitize(html, PURIFY); }

export function renderMarkdown(src) {
  let html;
  try { html = md.parse(String(src || "")); } catch { html = `<p>${escapeHtml(src)}</p>`; }
  return sanitize(html);
}
