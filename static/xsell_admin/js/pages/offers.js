// Offers: the bundle builder (live total, bundle price and saving from the API's quote),
// incentives with a margin preview, and recommendation rules and per-product overrides.

import { ApiError, all, del, exists, get, patch, post } from "../api.js";
import { announce, busy, card, clearErrors, debounce, errorBox, field, fill, h, loading, nextId, onSubmit, showErrors, table, values } from "../dom.js";
import { dateTime, humanize, money, number, percent, percentValue } from "../format.js";
import { picker } from "../picker.js";

const TABS = [["bundles", "Bundles"], ["incentives", "Incentives"], ["recommendations", "Recommendations"]];
const INCENTIVE_KINDS = [["percent_off", "Percent off"], ["amount_off", "Amount off"], ["free_addon", "Free add-on"], ["free_shipping", "Free shipping"], ["loyalty_credit", "Loyalty credit"]];
const INCENTIVE_SEGMENTS = ["any", "new", "repeat", "vip", "lapsed"];
const statusBadge = (s) => h("span", { class: `badge ${s === "active" ? "badge-ok" : s === "flagged" ? "badge-warn" : s === "paused" ? "badge-danger" : ""}` }, humanize(s));

function productsById(ids) {
  // The incentive names only the add-on's id (the products list has no id filter).
  return ids.map((id) => ({ id, title: `Product #${id}` }));
}

// Bundles ------------------------------------------------------------------------------------------
function quotePanel() {
  const body = h("div", { "aria-live": "polite", "aria-atomic": "true", id: "bundle-quote" },
    h("p", { class: "muted" }, "Choose a core product and at least one add-on to see the price."));
  const panel = h("aside", { class: "card quote", "aria-labelledby": "quote-title" },
    h("h2", { id: "quote-title" }, "Price"), body);
  // On narrow screens the panel sits below the form: a one-line summary stays in view.
  panel.mini = h("p", { class: "quote-mini", "aria-hidden": "true" });
  panel.show = (q) => {
    panel.mini.textContent = `Bundle ${money(q.discounted_total)} · saves ${money(q.saving)}${q.margin_ok ? "" : " · below the margin floor"}`;
    const marginLine = q.margin === null || q.margin === undefined ? "unknown (a cost is missing)" : percent(q.margin);
    fill(body,
      h("dl", {},
        h("dt", {}, "Items separately"), h("dd", { id: "quote-total", "data-value": q.total }, money(q.total)),
        h("dt", {}, "Bundle price"), h("dd", { id: "quote-price", "data-value": q.discounted_total }, money(q.discounted_total)),
        h("dt", {}, "Customer saves"), h("dd", { id: "quote-saving", class: "big", "data-value": q.saving }, `${money(q.saving)} (${percentValue(q.saving_percent)})`),
        h("dt", {}, "Margin after the discount"), h("dd", { id: "quote-margin" }, marginLine),
        h("dt", {}, "Margin floor"), h("dd", {}, percent(q.margin_floor))),
      q.margin_ok
        ? h("p", { class: "alert alert-ok", style: "margin-top:.75rem" }, "Keeps the margin floor on every choice of add-ons.")
        : h("p", { class: "alert alert-error", style: "margin-top:.75rem", id: "quote-margin-warning" },
          `Breaks the ${percent(q.margin_floor)} margin floor${q.worst_margin !== null && q.worst_margin !== undefined ? ` (worst case ${percent(q.worst_margin)})` : ""}: lower the discount.`),
      q.in_stock ? null : h("p", { class: "alert alert-warn" }, "Some items cannot be bought now: the bundle will not be sent until they are back."),
      q.missing_cost_product_ids?.length ? h("p", { class: "help" }, `No cost known for ${q.missing_cost_product_ids.length} item(s): their margin cannot be checked.`) : null,
      q.lines?.length ? h("details", {}, h("summary", {}, "Per item"), table({
        caption: "Per item", captionHidden: true,
        columns: [
          { label: "Product", render: (l) => panel.titles?.get(l.product_id) || `#${l.product_id}` },
          { label: "Price", num: true, render: (l) => money(l.line_total) },
          { label: "In the bundle", num: true, render: (l) => money(l.discounted_line_total) },
        ],
        rows: q.lines,
      })) : null);
  };
  panel.reset = (message) => { fill(body, h("p", { class: "muted" }, message)); panel.mini.textContent = ""; };
  return panel;
}

async function bundlesTab(view, route) {
  const listBody = h("div", {}, loading("Loading bundles"));
  view.append(card("Bundles", h("p", { class: "muted" }, "Products sold together at a discount, offered in bundle emails. A bundle is never sent while an item is out of stock or when its discount would break the margin floor."), listBody));
  const builderHolder = h("div", {});
  view.append(builderHolder);

  const loadList = async () => {
    try {
      const rows = await all("bundles");
      fill(listBody, table({
        caption: "Bundles", captionHidden: true,
        columns: [
          { label: "Bundle", render: (b) => h("a", { href: `#/offers/bundles?edit=${b.id}` }, b.name) },
          { label: "Kind", render: (b) => (b.kind === "fixed" ? "Fixed set" : `Core + ${b.min_addons}+ add-ons`) },
          { label: "Discount", num: true, render: (b) => (b.percent_off ? percentValue(b.percent_off) : money(b.amount_off)) },
          { label: "Items", num: true, render: (b) => number(b.items?.length) },
          { label: "Bundle price", num: true, render: (b) => money(b.quote?.discounted_total) },
          { label: "Saving", num: true, render: (b) => money(b.quote?.saving) },
          { label: "Margin", render: (b) => (b.quote?.margin_ok ? h("span", { class: "badge badge-ok" }, "OK") : h("span", { class: "badge badge-danger" }, "Below floor")) },
          { label: "Status", render: (b) => statusBadge(b.status) },
          {
            label: "Action", render: (b) => h("button", {
              type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete ${b.name}`,
              onclick: async (e) => {
                if (!window.confirm(`Delete the bundle “${b.name}”?`)) return;
                try { await busy(e.currentTarget, () => del(`bundles/${b.id}`)); announce(`${b.name} deleted.`, { tone: "ok" }); loadList(); } catch (err) { announce(err.message, { tone: "error" }); }
              },
            }, "Delete"),
          },
        ],
        rows, empty: "No bundle yet: build one below.",
      }));
    } catch (err) {
      fill(listBody, errorBox(err));
    }
  };
  loadList();

  const editId = route.query.edit ? Number(route.query.edit) : null;
  const bundle = editId ? await get(`bundles/${editId}`) : null;
  const quote = quotePanel();
  const titles = new Map();
  quote.titles = titles;
  const remember = (items) => items.forEach((p) => titles.set(p.id, p.title));
  const coreItems = bundle ? bundle.items.filter((i) => i.role === "core").map((i) => ({ id: i.product_id, title: i.title, price: i.price })) : [];
  const addonItems = bundle ? bundle.items.filter((i) => i.role === "addon").map((i) => ({ id: i.product_id, title: i.title, price: i.price })) : [];
  remember([...coreItems, ...addonItems]);
  const core = picker({ label: "Core product", name: "core_product_id", selected: coreItems, query: { in_stock: "true" }, help: "What the customer bought or is looking at.", onChange: (items) => { remember(items); refresh(); } });
  const addons = picker({ label: "Add-ons", name: "addon_product_ids", multiple: true, selected: addonItems, query: { in_stock: "true" }, help: "Products that complete it.", onChange: (items) => { remember(items); refresh(); } });
  const discountKind = bundle && bundle.amount_off ? "amount" : "percent";
  const form = h("form", { class: "form-grid", "aria-label": bundle ? `Edit ${bundle.name}` : "Build a bundle", novalidate: true, id: "bundle-form" },
    field({ label: "Name", name: "name", value: bundle?.name, required: true }),
    field({ label: "Kind", name: "kind", kind: "select", value: bundle?.kind || "fixed", options: [["fixed", "Fixed set: every item"], ["adjustable", "Core + a choice of add-ons"]] }),
    field({ label: "Discount type", name: "discount_type", kind: "select", value: discountKind, options: [["percent", "Percent off"], ["amount", "Amount off"]], attrs: { "data-skip": "" } }),
    field({ label: "Percent off", name: "percent_off", kind: "number", value: bundle?.percent_off ?? 10, attrs: { min: 0.01, max: 100, step: "0.01" } }),
    field({ label: "Amount off", name: "amount_off", kind: "number", value: bundle?.amount_off ?? "", attrs: { min: 0.01, step: "0.01" } }),
    field({ label: "Add-ons to choose for the discount", name: "min_addons", kind: "number", value: bundle?.min_addons ?? 1, attrs: { min: 1 } }),
    field({ label: "Status", name: "status", kind: "select", value: bundle?.status === "paused" ? "paused" : "active", options: [["active", "Active"], ["paused", "Paused"]] }),
    core, addons,
    h("div", { class: "actions wide" },
      h("button", { class: "btn btn-primary", type: "submit" }, bundle ? "Save bundle" : "Create bundle"),
      bundle ? h("a", { class: "btn", href: "#/offers/bundles" }, "New bundle") : null));
  const syncFields = () => {
    const percentMode = form.elements.discount_type.value === "percent";
    form.elements.percent_off.closest(".field").hidden = !percentMode;
    form.elements.amount_off.closest(".field").hidden = percentMode;
    form.elements.percent_off.disabled = !percentMode;
    form.elements.amount_off.disabled = percentMode;
    form.elements.min_addons.closest(".field").hidden = form.elements.kind.value !== "adjustable";
  };
  const body = () => {
    const v = values(form);
    const data = {
      name: v.name || "Draft bundle", kind: v.kind, status: v.status,
      min_addons: v.kind === "adjustable" ? (v.min_addons ?? 1) : 1,
      core_product_id: core.value()[0]?.id, addon_product_ids: addons.value().map((p) => p.id),
    };
    if (form.elements.discount_type.value === "percent") { data.percent_off = v.percent_off === null ? null : String(v.percent_off); data.amount_off = null; } else { data.amount_off = v.amount_off === null ? null : String(v.amount_off); data.percent_off = null; }
    return data;
  };
  let quoteSeq = 0;
  const refresh = debounce(async () => {
    const data = body();
    if (!data.core_product_id || !data.addon_product_ids.length) {
      quote.reset("Choose a core product and at least one add-on to see the price.");
      return;
    }
    const mine = ++quoteSeq;
    try {
      const q = await post("bundles/quote", data);
      if (mine !== quoteSeq) return;
      clearErrors(form);
      quote.show(q);
    } catch (err) {
      if (mine !== quoteSeq) return;
      if (err instanceof ApiError && err.status === 400) {
        // Show the field errors live, next to their fields, but keep the focus where it is.
        const active = document.activeElement;
        showErrors(form, err);
        active?.focus?.();
        quote.reset("Fix the highlighted fields to see the price.");
      } else {
        quote.reset(`Could not price the bundle: ${err.message}`);
      }
    }
  }, 250);
  form.addEventListener("input", refresh);
  form.addEventListener("change", () => { syncFields(); refresh(); });
  syncFields();
  onSubmit(form, () => {
    const data = body();
    if (!form.elements.name.value.trim()) throw new ApiError(400, { code: "validation_failed", message: "The input is not valid.", extra: { fields: { name: ["Give the bundle a name."] } } });
    return bundle ? patch(`bundles/${bundle.id}`, data) : post("bundles", data);
  }, {
    message: (b) => `Bundle “${b.name}” saved.`,
    done: (b) => { loadList(); if (!bundle) window.location.hash = `#/offers/bundles?edit=${b.id}`; },
  });
  builderHolder.append(h("div", { class: "builder" },
    card(bundle ? `Edit “${bundle.name}”` : "Build a bundle", form, quote.mini),
    quote));
  if (bundle) refresh();
}

// Incentives ---------------------------------------------------------------------------------------
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function marginPanel() {
  const body = h("div", { id: "margin-preview" }, h("p", { class: "muted" }, "Change the terms to see the margins."));
  const panel = h("aside", { class: "card quote", "aria-labelledby": "margin-title" }, h("h2", { id: "margin-title" }, "Margin preview"),
    h("div", { class: "visually-hidden", "aria-live": "polite", id: "margin-summary-live" }), body);
  panel.show = (p) => {
    const summary = p.breaking
      ? `${p.breaking} of ${p.count} products would go below the ${percent(p.margin_floor)} margin floor.`
      : `All ${p.count} products keep the ${percent(p.margin_floor)} margin floor.`;
    panel.querySelector("#margin-summary-live").textContent = summary;
    fill(body,
      h("p", { class: `alert ${p.breaking ? "alert-error" : "alert-ok"}`, id: "margin-summary" }, summary),
      p.note ? h("p", { class: "help" }, p.note) : null,
      table({
        caption: "Margins before and after, on a sample of best sellers", captionHidden: false,
        columns: [
          { label: "Product", rowHeader: false, render: (r) => [h("span", {}, r.title || r.external_id), h("br"), h("span", { class: "muted small" }, `${money(r.price)} → ${money(r.discounted_price)}`)] },
          { label: "Margin", num: true, render: (r) => `${percent(r.margin_before, 0)} → ${percent(r.margin_after, 0)}` },
          { label: "Floor", render: (r) => (r.breaks_floor ? h("span", { class: "badge badge-danger" }, r.reason === "no_cost" ? "No cost" : "Below") : h("span", { class: "badge badge-ok" }, "OK")) },
        ],
        rows: p.products || [], empty: "No product to check.",
      }));
  };
  panel.reset = (message) => { fill(body, h("p", { class: "muted" }, message)); };
  return panel;
}

async function incentivesTab(view, route) {
  const listBody = h("div", {}, loading("Loading incentives"));
  view.append(card("Incentives", h("p", { class: "muted" }, "A reason to buy now, offered from the escalation level you set, only to the segments you choose, and never below the margin floor."), listBody));
  const editorHolder = h("div", {});
  view.append(editorHolder);
  const loadList = async () => {
    try {
      const rows = await all("incentives");
      fill(listBody, table({
        caption: "Incentives", captionHidden: true,
        columns: [
          { label: "Incentive", render: (i) => h("a", { href: `#/offers/incentives?edit=${i.id}` }, i.name) },
          { label: "Kind", render: (i) => humanize(i.kind) },
          { label: "Value", num: true, render: (i) => (i.percent_off ? percentValue(i.percent_off) : i.amount_off ? money(i.amount_off) : "—") },
          { label: "From step", num: true, render: (i) => number(i.level + 1) },
          { label: "Segments", render: (i) => (i.segments?.length ? i.segments.map(humanize).join(", ") : "Any") },
          { label: "Codes", num: true, render: (i) => number(i.codes_issued) },
          { label: "Sends", num: true, render: (i) => number(i.sends) },
          { label: "Conversions", num: true, render: (i) => number(i.conversions) },
          { label: "Status", render: (i) => statusBadge(i.status) },
        ],
        rows, empty: "No incentive yet.",
      }));
      return rows;
    } catch (err) {
      fill(listBody, errorBox(err));
      return [];
    }
  };
  const rows = await loadList();
  const editId = route.query.edit ? Number(route.query.edit) : null;
  const inc = editId ? rows.find((r) => r.id === editId) || (await get(`incentives/${editId}`)) : null;

  const addonItems = inc?.addon_product_id ? productsById([inc.addon_product_id]) : [];
  const addon = picker({ label: "Free add-on product", name: "addon_product_id", selected: addonItems, query: { in_stock: "true" }, onChange: () => refresh() });
  const segGroup = h("fieldset", { class: "wide", "data-field": "segments" }, h("legend", {}, "For these segments"),
    h("div", { class: "actions", style: "margin:0" }, INCENTIVE_SEGMENTS.map((s) => {
      const id = nextId("seg");
      return h("span", { class: "check" }, h("input", { type: "checkbox", id, value: s, "data-skip": "", checked: (inc?.segments || ["any"]).includes(s) }), " ", h("label", { for: id }, s === "vip" ? "VIP" : humanize(s)));
    })),
    h("p", { class: "help" }, "Frequent buyers never get one: they buy anyway."),
    h("p", { class: "field-error", hidden: true }));
  const preview = marginPanel();
  const form = h("form", { class: "form-grid", "aria-label": inc ? `Edit ${inc.name}` : "New incentive", novalidate: true, id: "incentive-form" },
    field({ label: "Name", name: "name", value: inc?.name, required: true }),
    field({ label: "Kind", name: "kind", kind: "select", value: inc?.kind || "percent_off", options: INCENTIVE_KINDS }),
    field({ label: "Percent off", name: "percent_off", kind: "number", value: inc?.percent_off ?? 10, attrs: { min: 0.01, max: 100, step: "0.01" } }),
    field({ label: "Amount off", name: "amount_off", kind: "number", value: inc?.amount_off ?? "", attrs: { min: 0.01, step: "0.01" } }),
    addon,
    field({ label: "Offered from step", name: "level", kind: "number", value: (inc?.level ?? 0) + 1, help: "1: the first email may carry it; 2: from the second email without a purchase.", attrs: { min: 1, max: 11, "data-skip": "" } }),
    segGroup,
    field({ label: "Starts", name: "starts_at", kind: "datetime-local", value: toLocalInput(inc?.starts_at) }),
    field({ label: "Ends", name: "ends_at", kind: "datetime-local", value: toLocalInput(inc?.ends_at), help: "Emails only say “ends soon” when this is set." }),
    field({ label: "Code valid for (hours)", name: "code_valid_hours", kind: "number", value: inc?.code_valid_hours ?? 72, attrs: { min: 1 } }),
    field({ label: "Code prefix", name: "code_prefix", value: inc?.code_prefix ?? "XS" }),
    field({ label: "Codes per customer", name: "per_customer_cap", kind: "number", value: inc?.per_customer_cap ?? "", help: "Empty: no cap", attrs: { min: 1 } }),
    field({ label: "Codes per day (store)", name: "per_store_daily_cap", kind: "number", value: inc?.per_store_daily_cap ?? "", help: "Empty: no cap", attrs: { min: 1 } }),
    field({ label: "Status", name: "status", kind: "select", value: inc?.status === "paused" ? "paused" : "active", options: [["active", "Active"], ["paused", "Paused"]] }),
    h("div", { class: "actions wide" },
      h("button", { class: "btn btn-primary", type: "submit" }, inc ? "Save incentive" : "Create incentive"),
      inc ? h("a", { class: "btn", href: "#/offers/incentives" }, "New incentive") : null,
      inc ? h("button", { class: "btn btn-danger", type: "submit", value: "delete" }, "Delete") : null));
  form.errorAliases = { level: "level" };
  const kindNeeds = () => form.elements.kind.value;
  const syncFields = () => {
    const k = kindNeeds();
    const show = (name, on) => { const el = form.elements[name]; el.closest(".field").hidden = !on; el.disabled = !on; };
    show("percent_off", k === "percent_off");
    show("amount_off", k === "amount_off" || k === "loyalty_credit");
    addon.hidden = k !== "free_addon";
  };
  const terms = () => {
    const v = values(form);
    const k = v.kind;
    return {
      kind: k,
      percent_off: k === "percent_off" && v.percent_off !== null ? String(v.percent_off) : null,
      amount_off: (k === "amount_off" || k === "loyalty_credit") && v.amount_off !== null ? String(v.amount_off) : null,
      addon_product_id: k === "free_addon" ? (addon.value()[0]?.id ?? null) : null,
    };
  };
  let seq = 0;
  const refresh = debounce(async () => {
    const mine = ++seq;
    try {
      const p = await post("incentives/preview", { ...terms(), limit: 8 });
      if (mine !== seq) return;
      clearErrors(form);
      preview.show(p);
    } catch (err) {
      if (mine !== seq) return;
      if (err instanceof ApiError && err.status === 400) {
        const active = document.activeElement;
        showErrors(form, err);
        active?.focus?.();
        preview.reset("Fix the highlighted fields to see the margins.");
      } else preview.reset(`Could not preview: ${err.message}`);
    }
  }, 250);
  form.addEventListener("input", refresh);
  form.addEventListener("change", () => { syncFields(); refresh(); });
  syncFields();
  refresh();
  onSubmit(form, async (v, submitter) => {
    if (submitter?.value === "delete") {
      if (!window.confirm(`Delete the incentive “${inc.name}”?`)) return { cancelled: true };
      await del(`incentives/${inc.id}`);
      return { deleted: true };
    }
    const segments = [...segGroup.querySelectorAll("input:checked")].map((el) => el.value);
    const iso = (x) => (x ? new Date(x).toISOString() : null);
    const data = {
      name: v.name, ...terms(), level: Math.max(0, Number(form.elements.level.value || 1) - 1), segments,
      starts_at: iso(v.starts_at), ends_at: iso(v.ends_at), code_valid_hours: v.code_valid_hours ?? 72,
      code_prefix: v.code_prefix, per_customer_cap: v.per_customer_cap, per_store_daily_cap: v.per_store_daily_cap, status: v.status,
    };
    return inc ? patch(`incentives/${inc.id}`, data) : post("incentives", data);
  }, {
    done: async (r) => {
      if (r?.cancelled) return;
      if (r?.deleted) { announce("Incentive deleted.", { tone: "ok" }); window.location.hash = "#/offers/incentives"; return; }
      announce(`Incentive “${r.name}” saved.`, { tone: "ok" });
      await loadList();
      if (!inc) window.location.hash = `#/offers/incentives?edit=${r.id}`;
    },
  });
  editorHolder.append(h("div", { class: "builder" }, card(inc ? `Edit “${inc.name}”` : "New incentive", form), preview));
}

// Recommendations ----------------------------------------------------------------------------------
async function recommendationsTab(view) {
  const rulesBody = h("div", {}, loading("Loading rules"));
  const overridesBody = h("div", {}, loading("Loading overrides"));
  view.append(card("Product types", h("p", { class: "muted" }, "Durable types are bought once: nobody who owns one is offered another of the type. Consumables are offered again when they run out. Unset types are judged from the orders."), rulesBody),
    card("Per-product overrides", h("p", { class: "muted" }, "Pin a product to be shown first with another (when it can be bought), or exclude it from ever being shown with it."), overridesBody));
  const durableOptions = [["", "Decide from the orders"], ["true", "Durable (bought once)"], ["false", "Consumable (bought again)"]];
  const durableValue = (d) => (d === true ? "true" : d === false ? "false" : "");
  const parseDurable = (s) => (s === "true" ? true : s === "false" ? false : null);

  const loadRules = async () => {
    try {
      const rows = await all("recommendations/rules");
      const form = h("form", { class: "toolbar", "aria-label": "Add a product-type rule", novalidate: true },
        field({ label: "Product type", name: "product_type", required: true }),
        field({ label: "Rule", name: "durable", kind: "select", options: durableOptions, value: "true", attrs: { "data-skip": "" } }),
        h("button", { class: "btn btn-primary", type: "submit" }, "Add rule"));
      onSubmit(form, (v) => post("recommendations/rules", { product_type: v.product_type, durable: parseDurable(form.elements.durable.value) }), { message: "Rule added.", done: loadRules });
      form.errorAliases = { durable: "durable" };
      fill(rulesBody, table({
        caption: "Product-type rules", captionHidden: true,
        columns: [
          { label: "Product type", key: "product_type" },
          {
            label: "Rule", render: (r) => {
              const id = nextId("rule");
              const select = h("select", { id, "aria-label": `Rule for ${r.product_type}` }, durableOptions.map(([v, t]) => h("option", { value: v, selected: v === durableValue(r.durable) }, t)));
              select.addEventListener("change", async () => {
                try { await patch(`recommendations/rules/${r.id}`, { durable: parseDurable(select.value) }); announce(`${r.product_type} saved.`, { tone: "ok" }); } catch (err) { announce(err.message, { tone: "error" }); }
              });
              return select;
            },
          },
          {
            label: "Action", render: (r) => h("button", {
              type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete the rule for ${r.product_type}`,
              onclick: async (e) => { try { await busy(e.currentTarget, () => del(`recommendations/rules/${r.id}`)); loadRules(); } catch (err) { announce(err.message, { tone: "error" }); } },
            }, "Delete"),
          },
        ],
        rows, empty: "No rule: every type is judged from the orders.",
      }), h("h3", {}, "Add a rule"), form);
    } catch (err) {
      fill(rulesBody, errorBox(err));
    }
  };

  const loadOverrides = async () => {
    try {
      const rows = await all("recommendations/overrides");
      const product = picker({ label: "When the email is about", name: "product_id" });
      const recommended = picker({ label: "This product is", name: "recommended_product_id" });
      const form = h("form", { class: "form-grid", "aria-label": "Add an override", novalidate: true },
        product, recommended,
        field({ label: "Action", name: "action", kind: "select", options: [["pin", "Pinned: shown first"], ["exclude", "Excluded: never shown"]], value: "pin" }),
        h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save override")));
      onSubmit(form, (v) => post("recommendations/overrides", { product_id: product.value()[0]?.id ?? null, recommended_product_id: recommended.value()[0]?.id ?? null, action: v.action }),
        { message: "Override saved.", done: loadOverrides });
      fill(overridesBody, table({
        caption: "Overrides", captionHidden: true,
        columns: [
          { label: "Email about", render: (r) => r.product_title || `#${r.product_id}` },
          { label: "Product", render: (r) => r.recommended_product_title || `#${r.recommended_product_id}` },
          { label: "Action", render: (r) => h("span", { class: `badge ${r.action === "pin" ? "badge-info" : "badge-danger"}` }, r.action === "pin" ? "Pinned" : "Excluded") },
          { label: "Since", render: (r) => dateTime(r.created_at) },
          {
            label: "Remove", render: (r) => h("button", {
              type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove the override of ${r.recommended_product_title}`,
              onclick: async (e) => { try { await busy(e.currentTarget, () => del(`recommendations/overrides/${r.id}`)); loadOverrides(); } catch (err) { announce(err.message, { tone: "error" }); } },
            }, "Remove"),
          },
        ],
        rows, empty: "No override.",
      }), h("h3", {}, "Add an override"), form);
    } catch (err) {
      fill(overridesBody, errorBox(err));
    }
  };
  await Promise.all([loadRules(), loadOverrides()]);
}

export async function render(view, route) {
  const tab = TABS.some(([k]) => k === route.parts[0]) ? route.parts[0] : "bundles";
  view.append(h("h1", {}, "Offers"),
    h("nav", { class: "tabs", "aria-label": "Offers" }, TABS.map(([k, label]) => h("a", { href: `#/offers/${k}`, "aria-current": k === tab ? "page" : null }, label))));
  const path = { bundles: "bundles", incentives: "incentives", recommendations: "recommendations/rules" }[tab];
  if (!(await exists(path))) {
    view.append(h("p", { class: "alert alert-info" }, `This server does not offer ${tab} yet (/api/v1/${path}).`));
    return;
  }
  if (tab === "bundles") return bundlesTab(view, route);
  if (tab === "incentives") return incentivesTab(view, route);
  return recommendationsTab(view);
}
