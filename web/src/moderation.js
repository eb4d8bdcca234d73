// The admin's moderation page (a tab of the admin dialog): the audit log of flagged items
// (when, who, which API and stage, the rule, the action, an excerpt) newest first, with
// "older" paging, and the log's retention in days. Excerpts are users' and models' text:
// they are only ever set as text, never as markup.
import { addStrings, t } from "./i18n.js";

addStrings({
  en: {
    moderation: "Moderation", modAudit: "Flagged items", modWhen: "When", modWho: "Who", modApi: "API",
    modStage: "Stage", modRule: "Rule", modAction: "Action", modExcerpt: "Text", modNone: "Nothing has been flagged.",
    modOlder: "Older", modRetention: "Keep the log for (days)", modSaved: "Saved",
    modStages: { input: "input", output: "answer", tool_result: "tool result", knowledge: "retrieved text" },
  },
  ko: {
    moderation: "콘텐츠 정책", modAudit: "걸러진 항목", modWhen: "시각", modWho: "사용자", modApi: "API",
    modStage: "단계", modRule: "규칙", modAction: "조치", modExcerpt: "내용", modNone: "걸러진 항목이 없습니다.",
    modOlder: "이전 항목", modRetention: "기록 보관 기간 (일)", modSaved: "저장했습니다",
    modStages: { input: "입력", output: "답변", tool_result: "도구 결과", knowledge: "검색된 자료" },
  },
});

// body: the tab's element; api(method, path, body) and h(sel, attrs, ...kids) are the app's.
export async function moderationTab(body, { api, h, toast }) {
  const ret = await api("GET", "/api/admin/moderation/retention");
  const days = h("input", { id: "mod-retention", type: "number", min: 1, max: 3650, value: String(ret.days), "aria-label": t("modRetention") });
  days.addEventListener("change", async () => {
    try { await api("PUT", "/api/admin/moderation/retention", { days: +days.value }); toast(t("modSaved")); } catch (e) { toast(e.message); }
  });
  let emails = new Map();   // who: the account's e-mail where the admin can see it
  try { emails = new Map(((await api("GET", "/api/admin/users")).data || []).map((u) => [u.id, u.email])); } catch {}
  const cols = h("colgroup", {}, ...[14, 16, 14, 8, 12, 10, 26].map((w) => h("col", { style: `width: ${w}%` })));
  const table = h("table.admin-moderation", { style: "table-layout: fixed; width: 100%; overflow-wrap: anywhere" }, cols, h("tr", {}, ...["modWhen", "modWho", "modApi", "modStage", "modRule", "modAction", "modExcerpt"].map((k) => h("th", { text: t(k) }))));
  const more = h("button", { type: "button", id: "mod-older", text: t("modOlder"), hidden: true });
  const none = h("p.hint", { id: "mod-none", text: t("modNone"), hidden: true });
  let before = 0;
  const load = async () => {
    const r = await api("GET", `/api/admin/moderation/audit?limit=50${before ? `&before=${before}` : ""}`);
    const stages = t("modStages");
    for (const x of r.data || []) {
      table.append(h("tr", { dataset: { id: x.id, action: x.action, stage: x.stage } },
        h("td", { text: new Date(x.created).toLocaleString() }),
        h("td", { text: emails.get(x.user_id) || x.user_id || "—", title: x.key_id ? `key ${x.key_id}` : "" }),
        h("td", { text: x.api }),
        h("td", { text: (stages && stages[x.stage]) || x.stage }),
        h("td", { text: x.rule + (x.category && !x.rule.endsWith(x.category) ? ` (${x.category})` : "") }),
        h("td", {}, h("span.badge", { text: x.action })),
        h("td.excerpt", { text: x.excerpt })));
      before = x.created;
    }
    none.hidden = table.rows.length > 1;
    more.hidden = !r.has_more;
  };
  more.addEventListener("click", () => load().catch((e) => toast(e.message)));
  body.append(h("label.field", {}, h("span", { text: t("modRetention") }), days), h("h3", { text: t("modAudit") }), none, table, more);
  await load();
}
