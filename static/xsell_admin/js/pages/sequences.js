// Sequences: the list (enable / pause), and one sequence's settings and steps (delays, send
// windows, conditions, A/B variants), each step with a link to its preview.

import { all, del, exists, get, patch, post } from "../api.js";
import { announce, busy, card, clear, errorBox, field, fill, h, loading, nextId, onSubmit, table } from "../dom.js";
import { duration, humanize, number } from "../format.js";

export const KINDS = ["value", "checkin", "complements", "upgrade", "bundle", "incentive", "followup", "feedback"];
export const TRIGGERS = [
  ["first_purchase", "First purchase"], ["repeat_purchase", "Repeat purchase"],
  ["product_purchase", "Purchase of a product type or collection"], ["abandoned_checkout", "Abandoned checkout"],
  ["abandoned_cart", "Abandoned cart"], ["wishlist_add", "Wishlist add"], ["repeated_browse", "Repeated browse of a product"],
  ["clicked_no_order", "Clicked but did not buy"], ["replenishment_due", "Replenishment due"],
  ["upgrade_anniversary", "Upgrade anniversary"], ["win_back", "Win-back"],
];
const TRIGGER_LABEL = Object.fromEntries(TRIGGERS);
const EXIT_ON = [["any_order", "Any order"], ["recommended_item", "An order with a recommended item"], ["never", "Never (runs to the end)"]];
// What each trigger reads from trigger_config: [key, label, type].
const TRIGGER_CONFIG = {
  first_purchase: [["product_types", "Only these product types", "strings"], ["collections", "Only these collections", "strings"]],
  repeat_purchase: [["product_types", "Only these product types", "strings"], ["collections", "Only these collections", "strings"]],
  product_purchase: [["product_types", "Product types", "strings"], ["collections", "Collections", "strings"]],
  abandoned_checkout: [["quiet_minutes", "Minutes without change before it counts as abandoned", "int"]],
  abandoned_cart: [["quiet_minutes", "Minutes without change before it counts as abandoned", "int"]],
  wishlist_add: [],
  repeated_browse: [["min_views", "Views of the product", "int"], ["days", "Within days", "int"]],
  clicked_no_order: [["wait_hours", "Hours to wait for an order", "number"]],
  replenishment_due: [["min_orders", "Orders before it learns the rhythm", "int"], ["factor", "Due after this many usual gaps", "number"],
    ["min_gap_days", "Shortest gap (days)", "number"], ["max_gap_days", "Longest gap (days)", "int"]],
  upgrade_anniversary: [["days", "Days after the purchase", "int"], ["product_types", "Product types", "strings"]],
  win_back: [["days", "Days without an order", "int"]],
};
const LIFECYCLE = ["new", "active", "loyal", "at_risk", "lapsed"];
const RFM = ["champion", "loyal", "promising", "new", "at_risk", "hibernating"];
const ENGAGEMENT = ["engaged", "opener", "quiet", "unengaged", "unmailed"];


/** The enable / pause switch of a sequence (aria-pressed), saved at once. */
export function statusSwitch(seq, onChange) {
  const button = h("button", {
    type: "button", class: "switch", "aria-pressed": String(seq.status === "active"),
    "aria-label": `${seq.name}: active`, dataset: { sequence: String(seq.id) },
  }, h("span", { class: "track", "aria-hidden": "true" }), h("span", { class: "switch-text" }, seq.status === "active" ? "Active" : "Paused"));
  if (seq.status === "archived") {
    button.disabled = true;
    button.querySelector(".switch-text").textContent = "Archived";
  }
  button.addEventListener("click", async () => {
    const next = seq.status === "active" ? "paused" : "active";
    try {
      const saved = await busy(button, () => patch(`sequences/${seq.id}`, { status: next }));
      seq.status = saved.status;
      button.setAttribute("aria-pressed", String(saved.status === "active"));
      button.querySelector(".switch-text").textContent = saved.status === "active" ? "Active" : "Paused";
      announce(`${seq.name} is now ${saved.status}.`, { tone: "ok" });
      onChange?.(saved);
    } catch (err) {
      announce(`Could not change ${seq.name}: ${err.message}`, { tone: "error" });
    }
  });
  return button;
}

function notAvailable(view, what) {
  view.append(h("p", { class: "alert alert-info" }, `This server does not offer ${what} yet.`));
}

function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
}

// List ----------------------------------------------------------------------------------------------
async function renderList(view) {
  view.append(h("h1", {}, "Sequences"),
    h("p", { class: "lede" }, "Each sequence starts on a customer's behaviour and sends its steps in order, within the caps and quiet hours, and stops when the customer buys. Pausing stops new enrolments; due emails wait."));
  if (!(await exists("sequences"))) return notAvailable(view, "sequences (/api/v1/sequences)");
  const body = h("div", {}, loading("Loading sequences"));
  view.append(card("All sequences", body));
  try {
    const rows = await all("sequences");
    fill(body, table({
      caption: "Sequences", captionHidden: true,
      columns: [
        { label: "Sequence", render: (s) => h("a", { href: `#/sequences/${s.id}` }, s.name) },
        { label: "Trigger", render: (s) => TRIGGER_LABEL[s.trigger] || humanize(s.trigger) },
        { label: "Steps", num: true, render: (s) => number(s.step_count) },
        { label: "Enrolled", num: true, render: (s) => number(s.stats?.enrolled) },
        { label: "Held out", num: true, render: (s) => number(s.stats?.holdout) },
        { label: "Sent", num: true, render: (s) => number(s.stats?.sent) },
        { label: "Clicked", num: true, render: (s) => number(s.stats?.clicked) },
        { label: "Status", render: (s) => statusSwitch(s) },
      ],
      rows, empty: "No sequence yet: create one below.",
    }));
  } catch (err) {
    fill(body, errorBox(err));
  }

  const form = h("form", { class: "form-grid", "aria-label": "New sequence", novalidate: true },
    field({ label: "Name", name: "name", required: true }),
    field({ label: "Key", name: "key", required: true, help: "Letters, digits and dashes; fixed once created." }),
    field({ label: "Starts on", name: "trigger", kind: "select", options: TRIGGERS, value: "repeat_purchase" }),
    field({ label: "First email", name: "kind", kind: "select", options: KINDS.map((k) => [k, humanize(k)]), value: "value" }),
    field({ label: "First email after (hours)", name: "delay_hours", kind: "number", value: 24, attrs: { min: 0 } }),
    h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Create (paused)")));
  let keyTouched = false;
  form.elements.key.addEventListener("input", () => { keyTouched = true; });
  form.elements.name.addEventListener("input", () => { if (!keyTouched) form.elements.key.value = slug(form.elements.name.value); });
  onSubmit(form, (v) => post("sequences", {
    name: v.name, key: v.key, trigger: v.trigger, status: "paused",
    steps: [{ kind: v.kind, delay_minutes: Math.round((v.delay_hours || 0) * 60) }],
  }), {
    message: (s) => `Sequence “${s.name}” created, paused.`,
    done: (s) => { window.location.hash = `#/sequences/${s.id}`; },
  });
  view.append(card("New sequence", form));
}

// Detail --------------------------------------------------------------------------------------------
function checkboxGroup(legend, name, options, selected = []) {
  return h("fieldset", { class: "wide", "data-group": name },
    h("legend", {}, legend),
    h("div", { class: "actions", style: "margin:0" }, options.map((o) => {
      const id = nextId(name);
      return h("span", { class: "check" }, h("input", { type: "checkbox", id, value: o, "data-skip": "", checked: selected.includes(o) }), " ", h("label", { for: id }, humanize(o)));
    })));
}

function segmentFields(prefix, spec = {}) {
  return [
    checkboxGroup("Lifecycle stage", `${prefix}-lifecycle`, LIFECYCLE, spec.lifecycle),
    checkboxGroup("RFM group", `${prefix}-rfm`, RFM, spec.rfm),
    checkboxGroup("Engagement", `${prefix}-engagement`, ENGAGEMENT, spec.engagement),
    field({ label: "At least N orders", name: `${prefix}_min_orders`, kind: "number", value: spec.min_orders ?? "", attrs: { min: 0, "data-skip": "" } }),
    field({ label: "At most N orders", name: `${prefix}_max_orders`, kind: "number", value: spec.max_orders ?? "", attrs: { min: 0, "data-skip": "" } }),
    field({ label: "Spent at least (12 months)", name: `${prefix}_min_spent`, kind: "number", value: spec.min_spent ?? "", attrs: { min: 0, step: "0.01", "data-skip": "" } }),
  ];
}

function readSegment(root, prefix) {
  const spec = {};
  for (const key of ["lifecycle", "rfm", "engagement"]) {
    const picked = [...root.querySelectorAll(`[data-group="${prefix}-${key}"] input:checked`)].map((el) => el.value);
    if (picked.length) spec[key] = picked;
  }
  for (const key of ["min_orders", "max_orders", "min_spent"]) {
    const el = root.querySelector(`[name="${prefix}_${key}"]`);
    if (el && el.value !== "") spec[key] = key === "min_spent" ? Number(el.value) : parseInt(el.value, 10);
  }
  return spec;
}

function delayParts(minutes) {
  const m = Number(minutes) || 0;
  if (m && m % 1440 === 0) return [m / 1440, "days"];
  if (m && m % 60 === 0) return [m / 60, "hours"];
  return [m, "minutes"];
}
const UNIT = { minutes: 1, hours: 60, days: 1440 };

function hourOptions(anyLabel) {
  return [["", anyLabel], ...Array.from({ length: 24 }, (_, i) => [i, `${String(i).padStart(2, "0")}:00`])];
}

function triState(label, name, value, yes, no) {
  return field({ label, name, kind: "select", value: value === true ? "yes" : value === false ? "no" : "", attrs: { "data-skip": "" },
    options: [["", "Either way"], ["yes", yes], ["no", no]] });
}

function stepForm(seq, step, { onSaved, onDeleted, count, open = false }) {
  const [delayValue, delayUnit] = delayParts(step.delay_minutes);
  const cond = step.conditions || {};
  const variantsBody = h("tbody", {});
  const addVariant = (v = {}) => {
    const n = variantsBody.children.length + 1;
    const row = h("tr", {},
      h("td", {}, h("input", { "data-v": "key", value: v.key ?? String.fromCharCode(96 + n), "aria-label": `Variant ${n} key`, size: 6 })),
      h("td", {}, h("input", { "data-v": "weight", type: "number", min: 0, max: 1000, value: v.weight ?? 1, "aria-label": `Variant ${n} weight`, style: "width:5.5rem" })),
      h("td", {}, h("select", { "data-v": "kind", "aria-label": `Variant ${n} email kind` }, h("option", { value: "" }, "The step's kind"),
        KINDS.map((k) => h("option", { value: k, selected: v.kind === k }, humanize(k))))),
      h("td", {}, h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove variant ${n}`, onclick: () => row.remove() }, "Remove")));
    variantsBody.append(row);
  };
  (step.variants || []).forEach(addVariant);
  const headingId = nextId("step");
  const form = h("form", { class: "form-grid", "aria-labelledby": headingId, novalidate: true, dataset: { step: String(step.id) } },
    field({ label: "Email", name: "kind", kind: "select", value: step.kind, options: KINDS.map((k) => [k, humanize(k)]) }),
    field({ label: `Wait after the ${step.position === 1 ? "trigger" : "previous step"}`, name: "delay_value", kind: "number", value: delayValue, attrs: { min: 0, "data-skip": "" } }),
    field({ label: "Unit", name: "delay_unit", kind: "select", value: delayUnit, options: [["minutes", "Minutes"], ["hours", "Hours"], ["days", "Days"]], attrs: { "data-skip": "" } }),
    field({ label: "Send from", name: "window_start_hour", kind: "select", value: step.window_start_hour ?? "", options: hourOptions("Any time") }),
    field({ label: "Send until", name: "window_end_hour", kind: "select", value: step.window_end_hour ?? "", options: hourOptions("Any time") }),
    h("fieldset", { class: "form-grid wide", "data-field": "conditions" }, h("legend", {}, "Send only if"),
      triState("Clicked since enrolment", "cond_clicked", cond.clicked, "They clicked", "They did not click"),
      triState("Ordered since the trigger", "cond_bought_since", cond.bought_since, "They ordered", "They did not order"),
      h("details", { class: "wide" }, h("summary", {}, "Segment condition"), h("div", { class: "form-grid" }, segmentFields(`s${step.id}`, cond.segment || {}))),
      h("p", { class: "field-error wide", hidden: true })),
    h("fieldset", { class: "wide", "data-field": "variants" }, h("legend", {}, "A/B variants"),
      h("p", { class: "help" }, "Customers are split by weight; a variant may send another email kind. Leave empty for one version. Subject lines are tested under Experiments."),
      h("div", { class: "table-wrap" }, h("table", { class: "variants-table" }, h("caption", { class: "visually-hidden" }, "Variants"),
        h("thead", {}, h("tr", {}, ["Key", "Weight", "Email kind", ""].map((t) => h("th", { scope: "col" }, t)))), variantsBody)),
      h("p", { class: "field-error", hidden: true }),
      h("button", { type: "button", class: "btn btn-small", onclick: () => addVariant() }, "Add a variant")),
    h("div", { class: "actions wide" },
      h("button", { class: "btn btn-primary", type: "submit" }, "Save step"),
      h("a", { class: "btn", href: `#/previews?sequence=${seq.id}&step=${step.id}` }, "Preview"),
      step.position > 1 ? h("button", { class: "btn", type: "submit", value: "up", "aria-label": `Move step ${step.position} up` }, "Move up") : null,
      step.position < count ? h("button", { class: "btn", type: "submit", value: "down", "aria-label": `Move step ${step.position} down` }, "Move down") : null,
      h("button", { class: "btn btn-danger", type: "submit", value: "delete", "aria-label": `Delete step ${step.position}` }, "Delete")));
  onSubmit(form, async (v, submitter) => {
    const action = submitter?.value;
    if (action === "delete") {
      if (!window.confirm(`Delete step ${step.position} (${humanize(step.kind)})?`)) return { cancelled: true };
      await del(`sequences/${seq.id}/steps/${step.id}`);
      return { deleted: true };
    }
    if (action === "up" || action === "down") {
      return patch(`sequences/${seq.id}/steps/${step.id}`, { position: step.position + (action === "up" ? -1 : 1) });
    }
    const conditions = {};
    const clicked = form.elements.cond_clicked.value;
    const bought = form.elements.cond_bought_since.value;
    if (clicked) conditions.clicked = clicked === "yes";
    if (bought) conditions.bought_since = bought === "yes";
    const segment = readSegment(form, `s${step.id}`);
    if (Object.keys(segment).length) conditions.segment = segment;
    const variants = [...variantsBody.children].map((row) => {
      const out = { key: row.querySelector('[data-v="key"]').value, weight: Number(row.querySelector('[data-v="weight"]').value) };
      const kind = row.querySelector('[data-v="kind"]').value;
      if (kind) out.kind = kind;
      return out;
    });
    const hour = (x) => (x === "" || x === null || x === undefined ? null : Number(x));
    return patch(`sequences/${seq.id}/steps/${step.id}`, {
      kind: v.kind,
      delay_minutes: Math.round(Number(form.elements.delay_value.value || 0) * UNIT[form.elements.delay_unit.value]),
      window_start_hour: hour(v.window_start_hour), window_end_hour: hour(v.window_end_hour),
      conditions, variants,
    });
  }, {
    done: (r) => {
      if (r?.cancelled) return;
      if (r?.deleted) { announce(`Step ${step.position} deleted.`, { tone: "ok" }); onDeleted(); return; }
      announce(`Step ${r.position} saved.`, { tone: "ok" });
      onSaved(r.id);
    },
  });
  // API names -> controls for the error display.
  form.errorAliases = { delay_minutes: "delay_value", position: "kind" };
  const window_ = step.window_start_hour === null || step.window_start_hour === undefined
    ? "any time" : `${String(step.window_start_hour).padStart(2, "0")}:00–${String(step.window_end_hour).padStart(2, "0")}:00`;
  const conds = [cond.clicked === true ? "clicked" : cond.clicked === false ? "no click" : null,
    cond.bought_since === true ? "ordered" : cond.bought_since === false ? "no order since" : null,
    cond.segment && Object.keys(cond.segment).length ? "segment" : null].filter(Boolean);
  const meta = [`${duration(step.delay_minutes)} after the ${step.position === 1 ? "trigger" : "previous step"}`, `sends ${window_}`,
    conds.length ? `only if: ${conds.join(", ")}` : null, step.variants?.length ? `${step.variants.length} variants` : null].filter(Boolean).join(" · ");
  return h("li", { class: "step", dataset: { position: String(step.position) } },
    h("details", { open: open || null },
      h("summary", { class: "step-head" },
        h("h3", { id: headingId }, `Step ${step.position}: ${humanize(step.kind)}`),
        h("span", { class: "step-meta" }, meta)),
      form));
}

async function renderDetail(view, id) {
  if (!(await exists("sequences"))) return notAvailable(view, "sequences (/api/v1/sequences)");
  const seq = await get(`sequences/${id}`);
  const title = h("h1", {}, seq.name);
  view.append(h("p", {}, h("a", { href: "#/sequences" }, "← All sequences")),
    h("div", { class: "card-head" }, title, statusSwitch(seq)),
    h("p", { class: "muted" }, `Starts on: ${TRIGGER_LABEL[seq.trigger] || seq.trigger}. Key: `, h("code", {}, seq.key), `. ${number(seq.stats?.enrolled)} enrolled, ${number(seq.stats?.holdout)} held out, ${number(seq.stats?.sent)} emails sent, ${number(seq.stats?.clicked)} clicked.`));

  // Settings.
  const triggerFields = (TRIGGER_CONFIG[seq.trigger] || []).map(([key, label, type]) => {
    const value = seq.trigger_config?.[key];
    return field({ label, name: `tc_${key}`, kind: type === "strings" ? "text" : "number",
      value: type === "strings" ? (value || []).join(", ") : value ?? "",
      help: type === "strings" ? "Comma-separated; empty: any." : null, attrs: { "data-skip": "", step: type === "number" ? "any" : null } });
  });
  const settings = h("form", { class: "form-grid", "aria-label": "Sequence settings", novalidate: true },
    field({ label: "Name", name: "name", value: seq.name, required: true }),
    field({ label: "Priority", name: "priority", kind: "number", value: seq.priority, help: "Higher wins when one event fits several sequences." }),
    field({ label: "Stops when", name: "exit_on", kind: "select", value: seq.exit_on, options: EXIT_ON }),
    field({ label: "Re-enrol after (days)", name: "reenroll_days", kind: "number", value: seq.reenroll_days, attrs: { min: 0 } }),
    field({ label: "Pause after a click (hours)", name: "pause_after_click_hours", kind: "number", value: seq.pause_after_click_hours, help: "0: never", attrs: { min: 0 } }),
    field({ label: "Longest a step may wait (days)", name: "max_hold_days", kind: "number", value: seq.max_hold_days, attrs: { min: 1 } }),
    triggerFields.length ? h("fieldset", { class: "form-grid wide", "data-field": "trigger_config" }, h("legend", {}, "Trigger settings"), triggerFields, h("p", { class: "field-error wide", hidden: true })) : null,
    h("details", { class: "wide", "data-field": "audience" }, h("summary", {}, "Who may enter (audience)"),
      h("div", { class: "form-grid" }, segmentFields("aud", seq.audience || {})), h("p", { class: "field-error", hidden: true })),
    h("div", { class: "actions wide" },
      h("button", { class: "btn btn-primary", type: "submit" }, "Save settings"),
      seq.status !== "archived" ? h("button", { class: "btn btn-danger", type: "submit", value: "archive" }, "Archive") : h("button", { class: "btn", type: "submit", value: "restore" }, "Restore (paused)")));
  onSubmit(settings, (v, submitter) => {
    if (submitter?.value === "archive") {
      if (!window.confirm(`Archive “${seq.name}”? Everything in it stops.`)) return null;
      return patch(`sequences/${id}`, { status: "archived" });
    }
    if (submitter?.value === "restore") return patch(`sequences/${id}`, { status: "paused" });
    const trigger_config = {};
    for (const [key, , type] of TRIGGER_CONFIG[seq.trigger] || []) {
      const raw = settings.elements[`tc_${key}`].value.trim();
      if (raw === "") continue;
      trigger_config[key] = type === "strings" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : type === "int" ? parseInt(raw, 10) : Number(raw);
    }
    return patch(`sequences/${id}`, {
      name: v.name, priority: v.priority, exit_on: v.exit_on, reenroll_days: v.reenroll_days,
      pause_after_click_hours: v.pause_after_click_hours, max_hold_days: v.max_hold_days,
      trigger_config, audience: readSegment(settings, "aud"),
    });
  }, {
    done: (saved) => {
      if (!saved) return;
      announce("Settings saved.", { tone: "ok" });
      if (saved.status !== seq.status) window.dispatchEvent(new HashChangeEvent("hashchange"));
      title.textContent = saved.name;
    },
  });
  view.append(card("Settings", settings));

  // Steps.
  const stepsList = h("ol", { class: "steps", "aria-label": "Steps" });
  const stepsCard = card("Steps", stepsList);
  view.append(stepsCard);
  const drawSteps = async (openId) => {
    fill(stepsList, h("li", {}, loading("Loading steps")));
    try {
      const fresh = await get(`sequences/${id}`);
      clear(stepsList);
      const steps = fresh.steps || [];
      if (!steps.length) stepsList.append(h("li", { class: "empty" }, "No step yet."));
      for (const step of steps) {
        stepsList.append(stepForm(seq, step, { onSaved: drawSteps, onDeleted: () => drawSteps(), count: steps.length, open: step.id === openId }));
      }
      if (openId) stepsList.querySelector("details[open] > summary")?.focus();
    } catch (err) {
      fill(stepsList, h("li", {}, errorBox(err)));
    }
  };
  await drawSteps();

  const addForm = h("form", { class: "toolbar", "aria-label": "Add a step", novalidate: true },
    field({ label: "Email", name: "kind", kind: "select", options: KINDS.map((k) => [k, humanize(k)]), value: "complements" }),
    field({ label: "Wait (days)", name: "delay_days", kind: "number", value: 2, attrs: { min: 0, step: "any" } }),
    h("button", { class: "btn btn-primary", type: "submit" }, "Add step"));
  onSubmit(addForm, (v) => post(`sequences/${id}/steps`, { kind: v.kind, delay_minutes: Math.round((v.delay_days || 0) * 1440) }), {
    message: "Step added.", done: (step) => drawSteps(step.id),
  });
  addForm.errorAliases = { delay_minutes: "delay_days" };
  stepsCard.append(h("h3", {}, "Add a step"), addForm);
}

export async function render(view, route) {
  if (route.parts[0]) return renderDetail(view, route.parts[0]);
  return renderList(view);
}
