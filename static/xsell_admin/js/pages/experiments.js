// Experiments: A/B tests on a sequence (or one step), planned with a fixed horizon and a sample
// size; their results per arm with intervals and Holm-adjusted p-values.

import { all, del, exists, get, post } from "../api.js";
import { announce, busy, card, debounce, errorBox, field, fill, h, loading, nextId, onSubmit, table } from "../dom.js";
import { dateTime, humanize, money, number, percent } from "../format.js";

const FACTORS = [["subject", "Subject line"], ["offer", "Offer"], ["incentive", "Incentive size"], ["timing", "Timing"], ["template", "Template"]];
const METRICS = [["conversion", "Conversion (any order in the window)"], ["revenue", "Revenue per recipient"]];
const KINDS = ["value", "checkin", "complements", "upgrade", "bundle", "incentive", "followup", "feedback"];
const STATUS_BADGE = { draft: "badge-info", running: "badge-ok", stopped: "" };

async function sequencesForSelect() {
  if (!(await exists("sequences"))) return null;
  try { return await all("sequences"); } catch { return null; }
}

function statusBadge(status) {
  return h("span", { class: `badge ${STATUS_BADGE[status] || ""}` }, humanize(status));
}

// The list and the form to plan a new test -----------------------------------------------------
async function renderList(view) {
  view.append(h("h1", {}, "Experiments"),
    h("p", { class: "lede" }, "Test one thing at a time (a subject line, an offer, an incentive, timing or a template) against a control. The plan is fixed before it starts: the sample size per arm and the outcome window, so the result is honest."));
  const listBody = h("div", {}, loading("Loading experiments"));
  view.append(card("Experiments", listBody));
  const sequences = await sequencesForSelect();
  const seqName = new Map((sequences || []).map((s) => [s.id, s.name]));

  const loadList = async () => {
    try {
      const rows = await all("experiments");
      fill(listBody, table({
        caption: "Experiments", captionHidden: true,
        columns: [
          { label: "Experiment", render: (r) => h("a", { href: `#/experiments/${r.id}` }, r.name) },
          { label: "Sequence", render: (r) => seqName.get(r.sequence_id) || `#${r.sequence_id}` },
          { label: "Testing", render: (r) => humanize(r.factor) },
          { label: "Metric", render: (r) => humanize(r.metric) },
          { label: "Status", render: (r) => statusBadge(r.status) },
          { label: "Assigned", num: true, render: (r) => number(r.assigned) },
          { label: "Planned per arm", num: true, render: (r) => number(r.planned_per_arm) },
        ],
        rows, empty: "No experiment yet: plan one below.",
      }));
    } catch (err) {
      fill(listBody, errorBox(err));
    }
  };
  loadList();

  // Plan a new experiment.
  const variantsBody = h("tbody", {});
  const variantsGroup = h("div", { class: "wide", "data-field": "variants" },
    h("div", { class: "table-wrap" }, h("table", { class: "variants-table" },
      h("caption", {}, "Variants (arms)"),
      h("thead", {}, h("tr", {}, ["Key", "Name", "Weight", "Control", "Setting", ""].map((t) => h("th", { scope: "col" }, t)))),
      variantsBody)),
    h("p", { class: "field-error", hidden: true }),
    h("button", { type: "button", class: "btn btn-small", onclick: () => addVariant() }, "Add a variant"));
  const controlName = nextId("control");
  const settingFor = (factor, value = "") => {
    if (factor === "subject") return h("input", { "data-v": "subject", "aria-label": "Subject line", value, placeholder: "Subject line" });
    if (factor === "timing") return h("input", { "data-v": "delay_hours", type: "number", min: 0, "aria-label": "Delay (hours)", value, placeholder: "Delay (hours)" });
    if (factor === "template" || factor === "offer") {
      return h("select", { "data-v": "kind", "aria-label": "Email kind" }, h("option", { value: "" }, "Same kind"), KINDS.map((k) => h("option", { value: k }, humanize(k))));
    }
    return h("input", { "data-v": "heading", "aria-label": "Heading", value, placeholder: "Heading" });
  };
  const addVariant = (key, name, control = false) => {
    const n = variantsBody.children.length;
    const k = key || String.fromCharCode(97 + n);
    const row = h("tr", {},
      h("td", {}, h("input", { "data-v": "key", "aria-label": `Key of variant ${n + 1}`, value: k, size: 6 })),
      h("td", {}, h("input", { "data-v": "name", "aria-label": `Name of variant ${n + 1}`, value: name || `Variant ${k.toUpperCase()}` })),
      h("td", {}, h("input", { "data-v": "weight", type: "number", min: 1, max: 1000, "aria-label": `Weight of variant ${n + 1}`, value: 1, style: "width:5rem" })),
      h("td", {}, h("input", { type: "radio", name: controlName, "data-v": "is_control", "aria-label": `Variant ${n + 1} is the control`, checked: control, "data-skip": "" })),
      h("td", { "data-setting": "" }, settingFor(form?.elements.factor.value || "subject")),
      h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove variant ${n + 1}`, onclick: () => row.remove() }, "Remove")));
    variantsBody.append(row);
  };

  const seqField = sequences
    ? field({ label: "Sequence", name: "sequence_id", kind: "select", required: true, options: sequences.map((s) => [s.id, s.name]) })
    : field({ label: "Sequence id", name: "sequence_id", kind: "number", required: true, help: "The sequences list is not available on this server yet." });
  const sizeNote = h("p", { class: "muted wide", "aria-live": "polite", id: "sample-size" });
  const form = h("form", { class: "form-grid", "aria-label": "Plan an experiment", novalidate: true },
    field({ label: "Name", name: "name", required: true }),
    seqField,
    field({ label: "What is tested", name: "factor", kind: "select", options: FACTORS, value: "subject" }),
    field({ label: "Metric", name: "metric", kind: "select", options: METRICS, value: "conversion" }),
    field({ label: "Hypothesis", name: "hypothesis", kind: "textarea", wide: true, attrs: { rows: 2 } }),
    field({ label: "Baseline conversion (%)", name: "baseline_rate", kind: "number", value: 5, attrs: { min: 0.01, max: 99.99, step: 0.01 } }),
    field({ label: "Baseline revenue per recipient", name: "baseline_mean", kind: "number", attrs: { min: 0.01, step: 0.01 } }),
    field({ label: "Its standard deviation", name: "baseline_sd", kind: "number", attrs: { min: 0.01, step: 0.01 } }),
    field({ label: "Smallest effect worth finding (%)", name: "minimum_detectable_effect", kind: "number", value: 10, help: "Relative: 10 means +10% over the baseline.", attrs: { min: 0.1, max: 1000, step: 0.1 } }),
    field({ label: "Significance (alpha)", name: "alpha", kind: "number", value: 0.05, attrs: { min: 0.001, max: 0.2, step: 0.001 } }),
    field({ label: "Power", name: "power", kind: "number", value: 0.8, attrs: { min: 0.5, max: 0.99, step: 0.01 } }),
    field({ label: "Outcome window (days)", name: "horizon_days", kind: "number", value: 14, attrs: { min: 1, max: 120 } }),
    variantsGroup,
    sizeNote,
    h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Create draft")));
  addVariant("a", "Control", true);
  addVariant("b", "Variant B");

  const showMetricFields = () => {
    const revenue = form.elements.metric.value === "revenue";
    for (const n of ["baseline_mean", "baseline_sd"]) form.elements[n].closest(".field").hidden = !revenue;
    form.elements.baseline_rate.closest(".field").hidden = revenue;
  };
  const refreshSettings = () => {
    for (const cell of variantsBody.querySelectorAll("[data-setting]")) cell.replaceChildren(settingFor(form.elements.factor.value));
  };
  const sampleSize = debounce(async () => {
    const v = form.elements;
    const q = {
      metric: v.metric.value, minimum_detectable_effect: Number(v.minimum_detectable_effect.value) / 100,
      alpha: v.alpha.value, power: v.power.value, variants: Math.max(2, variantsBody.children.length),
    };
    if (q.metric === "conversion") q.baseline_rate = Number(v.baseline_rate.value) / 100;
    else Object.assign(q, { baseline_mean: v.baseline_mean.value, baseline_sd: v.baseline_sd.value });
    try {
      const s = await get("experiments/sample-size", q);
      sizeNote.textContent = `Needs ${number(s.per_arm)} recipients per arm (${number(s.total)} in all). ${s.note}`;
    } catch (err) {
      sizeNote.textContent = `Sample size: ${err.message}`;
    }
  }, 300);
  form.addEventListener("input", sampleSize);
  form.elements.metric.addEventListener("change", () => { showMetricFields(); sampleSize(); });
  form.elements.factor.addEventListener("change", refreshSettings);
  showMetricFields();
  sampleSize();

  onSubmit(form, (v) => {
    const variants = [...variantsBody.children].map((row) => {
      const get1 = (n) => row.querySelector(`[data-v="${n}"]`);
      const config = {};
      for (const el of row.querySelectorAll("[data-setting] [data-v]")) {
        if (el.value !== "") config[el.dataset.v] = el.type === "number" ? Number(el.value) : el.value;
      }
      return { key: get1("key").value, name: get1("name").value, weight: Number(get1("weight").value) || 1, is_control: get1("is_control").checked, config };
    });
    const body = {
      name: v.name, sequence_id: Number(v.sequence_id), factor: v.factor, metric: v.metric, hypothesis: v.hypothesis,
      alpha: v.alpha, power: v.power, horizon_days: v.horizon_days,
      minimum_detectable_effect: (Number(v.minimum_detectable_effect) / 100).toFixed(3), variants,
    };
    if (v.metric === "conversion") body.baseline_rate = (Number(v.baseline_rate) / 100).toFixed(4);
    else Object.assign(body, { baseline_mean: v.baseline_mean, baseline_sd: v.baseline_sd });
    return post("experiments", body);
  }, {
    message: (e) => `Experiment “${e.name}” created as a draft.`,
    done: (e) => { window.location.hash = `#/experiments/${e.id}`; },
  });
  view.append(card("Plan an experiment", form));
}

// One experiment: its plan, controls and results ---------------------------------------------
async function renderDetail(view, id) {
  const e = await get(`experiments/${id}`);
  view.append(h("p", {}, h("a", { href: "#/experiments" }, "← All experiments")),
    h("h1", {}, e.name, " ", statusBadge(e.status)));
  const actions = h("div", { class: "actions" });
  const planCard = card("Plan",
    h("dl", { class: "kv" },
      h("dt", {}, "Testing"), h("dd", {}, humanize(e.factor)),
      h("dt", {}, "Metric"), h("dd", {}, humanize(e.metric)),
      h("dt", {}, "Hypothesis"), h("dd", {}, e.hypothesis || "—"),
      h("dt", {}, "Planned per arm"), h("dd", {}, number(e.planned_per_arm)),
      h("dt", {}, "Outcome window"), h("dd", {}, `${e.horizon_days} days`),
      h("dt", {}, "Alpha / power"), h("dd", {}, `${e.alpha} / ${e.power}`),
      h("dt", {}, "Started"), h("dd", {}, dateTime(e.started_at)),
      h("dt", {}, "Stopped"), h("dd", {}, dateTime(e.stopped_at)),
      h("dt", {}, "Winner"), h("dd", {}, e.winner || "—")),
    actions);
  const act = (label, fn, cls = "btn") => h("button", {
    type: "button", class: cls,
    onclick: async (ev) => {
      try {
        await busy(ev.currentTarget, fn);
      } catch (err) {
        announce(err.message, { tone: "error" });
      }
    },
  }, label);
  if (e.status === "draft") {
    actions.append(act("Start", async () => { await post(`experiments/${id}/start`); announce("Experiment started.", { tone: "ok" }); rerender(); }, "btn btn-primary"));
    actions.append(act("Delete", async () => {
      if (!window.confirm(`Delete the draft “${e.name}”?`)) return;
      await del(`experiments/${id}`); announce("Draft deleted.", { tone: "ok" }); window.location.hash = "#/experiments";
    }, "btn btn-danger"));
  }
  if (e.status === "running") {
    const winnerId = nextId("winner");
    const winner = h("select", { id: winnerId }, h("option", { value: "" }, "No winner"), e.variants.map((v) => h("option", { value: v.key }, v.name || v.key)));
    actions.append(h("label", { for: winnerId }, "Winner "), winner,
      act("Stop", async () => { await post(`experiments/${id}/stop`, { winner: winner.value || null }); announce("Experiment stopped.", { tone: "ok" }); rerender(); }, "btn btn-danger"));
  }
  const resultsBody = h("div", {}, loading("Loading results"));
  view.append(h("div", { class: "grid-2" }, planCard, card("Variants", table({
    caption: "Variants", captionHidden: true,
    columns: [
      { label: "Key", key: "key" }, { label: "Name", key: "name" },
      { label: "Weight", num: true, render: (v) => number(v.weight) },
      { label: "Control", render: (v) => (v.is_control ? "Yes" : "") },
      { label: "Setting", render: (v) => Object.entries(v.config || {}).map(([k, x]) => `${humanize(k)}: ${x}`).join(", ") || "—" },
    ],
    rows: e.variants || [],
  }))), card("Results", resultsBody));
  try {
    const r = await get(`experiments/${id}/results`);
    const revenue = r.metric === "revenue";
    fill(resultsBody,
      h("p", { class: `alert ${r.decision === "winner" || r.decision === "significant" ? "alert-ok" : "alert-info"}` }, h("strong", {}, humanize(r.decision)), ": ", r.message),
      table({
        caption: "Per arm", captionHidden: true,
        columns: [
          { label: "Arm", render: (a) => `${a.name || a.key}${a.is_control ? " (control)" : ""}` },
          { label: "Assigned", num: true, render: (a) => number(a.assigned) },
          { label: "Matured", num: true, render: (a) => number(a.matured) },
          { label: "Conversions", num: true, render: (a) => number(a.conversions) },
          { label: "Conversion rate", num: true, render: (a) => percent(a.conversion_rate) },
          { label: "Revenue per recipient", num: true, render: (a) => money(a.revenue_per_recipient) },
          {
            label: "Vs control (interval)", num: true,
            render: (a) => {
              const d = a.vs_control;
              if (!d) return "—";
              const f = revenue ? money : (x) => percent(x, 2);
              return `${f(d.estimate)} (${f(d.ci_low)} to ${f(d.ci_high)})`;
            },
          },
          { label: "Adjusted p", num: true, render: (a) => (a.vs_control?.p_value_adjusted ?? a.vs_control?.p_value ?? null) === null ? "—" : number(a.vs_control.p_value_adjusted ?? a.vs_control.p_value, 4) },
        ],
        rows: r.arms || [],
      }));
  } catch (err) {
    fill(resultsBody, errorBox(err));
  }

  function rerender() {
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  }
}

export async function render(view, route) {
  if (route.parts[0]) return renderDetail(view, route.parts[0]);
  return renderList(view);
}
