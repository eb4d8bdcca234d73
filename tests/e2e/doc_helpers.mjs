// Documents the knowledge tests make for themselves: zips (DOCX, HWPX, bundles, bombs),
// HWPX sections with outline headings, and PDFs drawn by pango-view (Debian's
// pango1.0-tools, installed by scripts/setup.sh) from Pango markup, so heading sizes survive
// into the PDF and the extractor sees them as headings.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { spawnSync } from "node:child_process";

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t;
})();
export function crc32(buf) { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }

// A zip of [name, Buffer|string] parts, deflated.
export function zip(parts) {
  const locals = [], centrals = [];
  let off = 0;
  for (const [name, data] of parts) {
    const raw = Buffer.isBuffer(data) ? data : Buffer.from(data, "utf8");
    const comp = zlib.deflateRawSync(raw);
    const nm = Buffer.from(name, "utf8");
    const crc = crc32(raw);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x800, 6); lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(comp.length, 18); lh.writeUInt32LE(raw.length, 22); lh.writeUInt16LE(nm.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x800, 8); ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(comp.length, 20); ch.writeUInt32LE(raw.length, 24); ch.writeUInt16LE(nm.length, 28);
    ch.writeUInt32LE(off, 42);
    locals.push(lh, nm, comp);
    centrals.push(ch, nm);
    off += lh.length + nm.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(parts.length, 8); end.writeUInt16LE(parts.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, end]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
// A DOCX of paras: [text, isHeading] (a heading: the style named "heading 1").
export function docx(paras) {
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const wp = (t, h) => `<w:p>${h ? '<w:pPr><w:pStyle w:val="H1"/></w:pPr>' : ""}<w:r><w:t xml:space="preserve">${esc(t)}</w:t></w:r></w:p>`;
  return zip([
    ["[Content_Types].xml", "<Types/>"],
    ["word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${paras.map(([t, h]) => wp(t, h)).join("")}</w:body></w:document>`],
    ["word/styles.xml", `<?xml version="1.0" encoding="UTF-8"?><w:styles ${W}><w:style w:type="paragraph" w:styleId="H1"><w:name w:val="heading 1"/></w:style></w:styles>`],
  ]);
}

const HNS = 'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"';
// paras: [text, isHeading]
export function hwpx(paras) {
  const header = '<?xml version="1.0" encoding="UTF-8"?><hh:head xmlns:hh="http://www.hancom.co.kr/hwpml/2011/head"><hh:refList><hh:styles>' +
    '<hh:style id="0" type="PARA" name="바탕글" engName="Normal"/><hh:style id="2" type="PARA" name="개요 1" engName="Outline 1"/></hh:styles></hh:refList></hh:head>';
  const body = paras.map(([t, h]) => `<hp:p styleIDRef="${h ? 2 : 0}"><hp:run><hp:t>${t}</hp:t></hp:run></hp:p>`).join("");
  return zip([["mimetype", "application/hwp+zip"], ["Contents/header.xml", header],
              ["Contents/section0.xml", `<?xml version="1.0" encoding="UTF-8"?><hs:sec ${HNS}>${body}</hs:sec>`]]);
}

// A PDF of blocks: [text, level] (level 1, 2: headings in larger type; 0 body), in dir.
export function pdf(dir, blocks) {
  const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const markup = blocks.map(([t, lv]) => lv === 1 ? `<span size="xx-large">${esc(t)}</span>` : lv === 2 ? `<span size="x-large">${esc(t)}</span>` : esc(t)).join("\n\n");
  const out = path.join(dir, `doc-${Math.random().toString(36).slice(2)}.pdf`);
  const r = spawnSync("pango-view", ["--font=Noto Sans CJK KR 11", "-q", "-o", out, "--markup", "--text", markup]);
  if (r.status !== 0) throw new Error("pango-view (Debian pango1.0-tools, scripts/setup.sh) failed: " + r.stderr);
  return fs.readFileSync(out);
}
