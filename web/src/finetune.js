// The fine-tuning page: start a job from an uploaded or exported dataset (OpenAI's chat
// fine-tuning JSONL, or DPO pairs), watch its loss curve (from the job's metrics events),
// and try the new model side by side with its base. It uses only the documented API:
// /v1/files (purpose fine-tune), /v1/fine_tuning/jobs (+ /events, /checkpoints, /cancel),
// /v1/models and /v1/chat/completions. Model answers are rendered through render.js's
// sanitizer; everything else (file names, suffixes, error messages) as text.
import { renderMarkdown } from "./render.js";
import { t, addStrings, LANG } from "./i18n.js";

addStrings({
  en: {
    fineTuning: "Fine-tuning", ftJobs: "Jobs", ftCompare: "Compare", ftNew: "New fine-tuning job",
    ftDataset: "Training data (JSONL)", ftUpload: "Upload a file", ftOrFile: "or an uploaded file", ftNone: "—",
    ftBase: "Base model", ftMethod: "Method", ftSupervised: "Supervised (chat examples)", ftDpo: "Preference pairs (DPO)",
    ftEpochs: "Epochs", ftLr: "Learning-rate multiplier", ftSuffix: "Name suffix", ftStart: "Start training",
    ftNoJobs: "No fine-tuning jobs yet.", ftStatus: "Status", ftModel: "Model", ftCreated: "Created",
    ftLoss: "Training loss", ftStep: (s, n) => `step ${s} of ${n}`, ftCancel: "Cancel job", ftTry: "Try it side by side",
    ftPrompt: "Prompt", ftRun: "Compare answers", ftLeft: "Model A", ftRight: "Model B", ftNoData: "Choose or upload a dataset first.",
    ftStarted: "Fine-tuning job started", ftEvents: "Events",
    ftStates: { validating_files: "validating files", queued: "queued", running: "running", succeeded: "succeeded",
                failed: "failed", cancelled: "cancelled" },
  },
  ko: {
    fineTuning: "파인튜닝", ftJobs: "작업", ftCompare: "비교", ftNew: "새 파인튜닝 작업",
    ftDataset: "학습 데이터 (JSONL)", ftUpload: "파일 올리기", ftOrFile: "또는 올린 파일", ftNone: "—",
    ftBase: "기본 모델", ftMethod: "방식", ftSupervised: "지도 학습 (대화 예시)", ftDpo: "선호 쌍 (DPO)",
    ftEpochs: "에폭", ftLr: "학습률 배수", ftSuffix: "이름 접미사", ftStart: "학습 시작",
    ftNoJobs: "아직 파인튜닝 작업이 없습니다.", ftStatus: "상태", ftModel: "모델", ftCreated: "만든 때",
    ftLoss: "학습 손실", ftStep: (s, n) => `${n}단계 중 ${s}단계`, ftCancel: "작업 취소", ftTry: "나란히 비교해 보기",
    ftPrompt: "프롬프트", ftRun: "답변 비교", ftLeft: "모델 A", ftRight: "모델 B", ftNoData: "먼저 데이터셋을 고르거나 올리세요.",
    ftStarted: "파인튜닝 작업을 시작했습니다", ftEvents: "이벤트",
    ftStates: { validating_files: "파일 확인 중", queued: "대기 중", running: "학습 중", succeeded: "완료",
                failed: "실패", cancelled: "취소됨" },
  },
});
const s = t;

// The loss curve: a polyline over the steps (an SVG drawn from numbers only).
function lossChart(points) {
  const W = 480, H = 160, P = 24;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "ft-chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", s("ftLoss"));
  const axis = document.createElementNS(NS, "path");
  axis.setAttribute("d", `M${P} ${P / 2}V${H - P}H${W - P / 2}`);
  axis.setAttribute("class", "ft-axis");
  svg.append(axis);
  if (points.length) {
    const maxS = Math.max(...points.map((p) => p.step), 1), maxL = Math.max(...points.map((p) => p.loss), 1e-9);
    const x = (st) => P + (W - 1.5 * P) * (maxS > 1 ? (st - 1) / (maxS - 1) : 0.5);
    const y = (l) => H - P - (H - 1.5 * P) * (l / maxL);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" "));
    line.setAttribute("class", "ft-line");
    svg.append(line);
    const lab = document.createElementNS(NS, "text");
    lab.setAttribute("x", P + 4); lab.setAttribute("y", P);
    lab.textContent = maxL.toFixed(3);
    svg.append(lab);
  }
  return svg;
}

export function initFineTuning({ h, api, button }) {
  let timer = null, dlg = null;
  const stop = () => { if (timer) clearTimeout(timer); timer = null; };

  async function allEvents(id) {
    const out = [];
    let after = null;
    for (let k = 0; k < 100; k++) {
      const q = `?limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`;
      const r = await api("GET", `/v1/fine_tuning/jobs/${encodeURIComponent(id)}/events${q}`);
      out.push(...r.data);
      if (!r.has_more || !r.data.length) break;
      after = r.data[r.data.length - 1].id;
    }
    return out.reverse();   // oldest first
  }

  async function chatModels() {
    const r = await api("GET", "/v1/models");
    return (r.data || []).filter((m) => !m.kind || m.kind === "chat").map((m) => m.id);
  }

  function modelSelect(id, ids, value) {
    const sel = h("select", { id });
    for (const m of ids) sel.append(h("option", { value: m, text: m }));
    if (value && ids.includes(value)) sel.value = value;
    return sel;
  }

  async function showJob(body, id) {
    stop();
    const box = h("section.ft-job", { id: "ft-job", dataset: { id } });
    body.querySelector("#ft-job")?.remove();
    body.append(box);
    const draw = async () => {
      const j = await api("GET", `/v1/fine_tuning/jobs/${encodeURIComponent(id)}`);
      const ev = await allEvents(id);
      const pts = ev.filter((e) => e.type === "metrics" && e.data).map((e) => ({ step: e.data.step, loss: e.data.train_loss, n: e.data.total_steps }));
      box.textContent = "";
      box.dataset.status = j.status;
      const row = body.querySelector(`tr[data-id="${CSS.escape(id)}"]`);   // the list's row follows
      if (row) {
        row.children[1].textContent = s("ftStates")[j.status] || j.status;
        if (j.fine_tuned_model) row.children[0].textContent = j.fine_tuned_model;
      }
      const last = pts[pts.length - 1];
      box.append(h("h3", { text: j.fine_tuned_model || j.id }),
        h("p.ft-status", { text: `${s("ftStatus")}: ${s("ftStates")[j.status] || j.status}${last ? ` · ${s("ftStep", last.step, last.n)} · ${s("ftLoss")} ${last.loss.toFixed(4)}` : ""}` }));
      if (j.error) box.append(h("p.error-text", { text: j.error.message }));
      box.append(lossChart(pts));
      box.dataset.points = String(pts.length);
      const acts = h("div.row");
      if (!["succeeded", "failed", "cancelled"].includes(j.status))
        acts.append(h("button", { type: "button", id: "ft-cancel", text: s("ftCancel"), onclick: async () => { await api("POST", `/v1/fine_tuning/jobs/${encodeURIComponent(id)}/cancel`); draw(); } }));
      if (j.fine_tuned_model)
        acts.append(h("button.primary", { type: "button", id: "ft-try", text: s("ftTry"), onclick: () => openTab("ftCompare", { a: j.model, b: j.fine_tuned_model }) }));
      box.append(acts);
      const log = h("details.ft-events", {}, h("summary", { text: s("ftEvents") }));
      for (const e of ev.slice(-50)) log.append(h("div", { text: e.message }));
      box.append(log);
      if (!["succeeded", "failed", "cancelled"].includes(j.status) && dlg && dlg.open) timer = setTimeout(draw, 1500);
    };
    await draw();
  }

  const tabs = {
    ftJobs: async (body) => {
      const [files, models, jobs] = await Promise.all([api("GET", "/v1/files?purpose=fine-tune"), chatModels(),
                                                        api("GET", "/v1/fine_tuning/jobs?limit=20")]);
      const bases = models.filter((m) => !m.startsWith("ft:"));
      const fileSel = h("select", { id: "ft-file" }, h("option", { value: "", text: s("ftNone") }));
      for (const f of files.data || []) fileSel.append(h("option", { value: f.id, text: f.filename }));
      const upload = h("input", { id: "ft-upload", type: "file", accept: ".jsonl,application/jsonl,application/json,text/plain" });
      const method = h("select", { id: "ft-method" }, h("option", { value: "supervised", text: s("ftSupervised") }),
                       h("option", { value: "dpo", text: s("ftDpo") }));
      const epochs = h("input", { id: "ft-epochs", type: "number", min: "1", max: "50", value: "3" });
      const lr = h("input", { id: "ft-lr", type: "number", min: "0.000001", step: "any", value: "1" });
      const suffix = h("input", { id: "ft-suffix", maxlength: "64", pattern: "[A-Za-z0-9._-]*" });
      const err = h("p.error-text", { id: "ft-error", role: "alert" });
      const base = modelSelect("ft-base", bases);
      const form = h("form.ft-form", { id: "ft-form", onsubmit: async (e) => {
        e.preventDefault();
        err.textContent = "";
        try {
          let fileId = fileSel.value;
          if (upload.files && upload.files[0]) {
            const fd = new FormData();
            fd.append("purpose", "fine-tune");
            fd.append("file", upload.files[0]);
            const r = await fetch("/v1/files", { method: "POST", body: fd, credentials: "same-origin" });
            const j = await r.json();
            if (!r.ok) throw new Error(j.error ? j.error.message : `HTTP ${r.status}`);
            fileId = j.id;
          }
          if (!fileId) throw new Error(s("ftNoData"));
          const hp = { n_epochs: +epochs.value || "auto", learning_rate_multiplier: +lr.value || "auto" };
          const job = await api("POST", "/v1/fine_tuning/jobs", { model: base.value, training_file: fileId,
            suffix: suffix.value || undefined, method: { type: method.value, [method.value]: { hyperparameters: hp } } });
          await tabs.ftJobs(body.parentNode ? clear(body) : body);
          await showJob(body, job.id);
        } catch (x) { err.textContent = x.message; }
      } },
        h("h3", { text: s("ftNew") }),
        h("label.field", {}, h("span", { text: s("ftDataset") }), upload),
        h("label.field", {}, h("span", { text: s("ftOrFile") }), fileSel),
        h("label.field", {}, h("span", { text: s("ftBase") }), base),
        h("label.field", {}, h("span", { text: s("ftMethod") }), method),
        h("div.row", {}, h("label.field", {}, h("span", { text: s("ftEpochs") }), epochs),
          h("label.field", {}, h("span", { text: s("ftLr") }), lr),
          h("label.field", {}, h("span", { text: s("ftSuffix") }), suffix)),
        err, h("button.primary", { type: "submit", id: "ft-start", text: s("ftStart") }));
      body.append(form);
      const list = h("table.ft-list", { id: "ft-list" });
      if (!(jobs.data || []).length) body.append(h("p", { text: s("ftNoJobs") }));
      else {
        list.append(h("tr", {}, h("th", { text: s("ftModel") }), h("th", { text: s("ftStatus") }), h("th", { text: s("ftCreated") })));
        for (const j of jobs.data) {
          const tr = h("tr", { dataset: { id: j.id }, tabindex: "0", onclick: () => showJob(body, j.id),
                                onkeydown: (e) => { if (e.key === "Enter") showJob(body, j.id); } },
            h("td", { text: j.fine_tuned_model || `${j.model}${j.suffix ? ` (${j.suffix})` : ""}` }),
            h("td", { text: s("ftStates")[j.status] || j.status }),
            h("td", { text: new Date(j.created_at * 1000).toLocaleString(LANG) }));
          list.append(tr);
        }
        body.append(list);
        await showJob(body, jobs.data[0].id);
      }
    },
    ftCompare: async (body, pre = {}) => {
      const ids = await chatModels();
      const a = modelSelect("ft-a", ids, pre.a || ids.find((m) => !m.startsWith("ft:")));
      const b = modelSelect("ft-b", ids, pre.b || ids.find((m) => m.startsWith("ft:")));
      const prompt = h("textarea", { id: "ft-prompt", rows: "3" });
      const outA = h("div.ft-answer", { id: "ft-out-a" }), outB = h("div.ft-answer", { id: "ft-out-b" });
      const err = h("p.error-text", { role: "alert" });
      const run = async () => {
        err.textContent = "";
        outA.textContent = outB.textContent = "…";
        delete outA.dataset.done; delete outB.dataset.done;
        const one = async (model, out) => {
          try {
            const r = await api("POST", "/v1/chat/completions", { model, messages: [{ role: "user", content: prompt.value }],
                                                                  max_tokens: 64, temperature: 0 });
            out.innerHTML = renderMarkdown(r.choices[0].message.content || "");   // sanitized (render.js)
          } catch (x) { out.textContent = x.message; }
          out.dataset.done = "1";
        };
        await Promise.all([one(a.value, outA), one(b.value, outB)]);
      };
      body.append(h("div.ft-compare", {},
        h("label.field", {}, h("span", { text: s("ftPrompt") }), prompt),
        h("div.ft-cols", {}, h("div", {}, h("label.field", {}, h("span", { text: s("ftLeft") }), a), outA),
          h("div", {}, h("label.field", {}, h("span", { text: s("ftRight") }), b), outB)),
        err, h("button.primary", { type: "button", id: "ft-run", text: s("ftRun"), onclick: run })));
    },
  };

  function clear(body) { body.textContent = ""; return body; }

  // its own dialog (the shared one's tabs are named by i18n's table)
  function openTab(name, arg) {
    stop();
    if (!dlg) {
      dlg = h("dialog.ft-dialog", { id: "ft-dialog", "aria-labelledby": "ft-title" },
        h("div.dialog-head", {}, h("h2", { id: "ft-title", text: s("fineTuning") }),
          h("button.icon", { type: "button", "aria-label": t("close"), text: "✕", onclick: () => dlg.close() })),
        h("div.ft-tabs", { role: "tablist" }), h("div.ft-body", { id: "ft-body" }));
      dlg.addEventListener("close", stop);
      document.body.append(dlg);
    }
    const tl = dlg.querySelector(".ft-tabs"), body = dlg.querySelector(".ft-body");
    tl.textContent = "";
    for (const n of Object.keys(tabs))
      tl.append(h("button.tab", { type: "button", role: "tab", dataset: { tab: n }, "aria-selected": n === name ? "true" : "false",
                                 text: s(n), onclick: () => openTab(n) }));
    clear(body).dataset.tab = name;
    if (!dlg.open) dlg.showModal();
    tabs[name](body, arg).catch((e) => body.append(h("p.error-text", { text: e.message })));
  }

  button.textContent = s("fineTuning");
  button.addEventListener("click", () => openTab("ftJobs"));
  // shown when this server fine-tunes (and the user may: a database and a user)
  api("GET", "/v1/fine_tuning/jobs?limit=1").then(() => { button.hidden = false; }, () => {});
}
