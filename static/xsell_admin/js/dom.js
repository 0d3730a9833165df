// Small DOM helpers: element building, labelled form fields, field errors, status messages.

let uid = 0;
export const nextId = (prefix = "x") => `${prefix}-${++uid}`;

/** h("p", {class: "note"}, "text", child, ...): an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled" || key === "hidden") el[key] = Boolean(value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Polite announcements for screen readers, also shown as a toast. The live region stays in the
 * page (never display:none, which would silence it); empty, it takes no room. */
export function announce(message, { tone = "info" } = {}) {
  const region = document.getElementById("status");
  if (!region) return;
  region.dataset.tone = tone;
  region.textContent = "";
  // A fresh text node so that the same message twice is announced twice.
  requestAnimationFrame(() => {
    region.textContent = message;
    clearTimeout(announce.timer);
    announce.timer = setTimeout(() => { region.textContent = ""; }, tone === "error" ? 8000 : 4000);
  });
}

/**
 * A labelled form field. kind: text | number | email | url | date | color | textarea | select |
 * checkbox | search | password. Returns the wrapper; the control carries name=<name> and an
 * error slot (aria-describedby) that showErrors() fills.
 */
export function field({ label, name, kind = "text", value, options = [], help, required, attrs = {}, wide }) {
  const id = nextId(`f-${String(name).replace(/[^a-z0-9]+/gi, "-")}`);
  const errorId = `${id}-error`;
  const helpId = help ? `${id}-help` : null;
  const describedBy = [helpId, errorId].filter(Boolean).join(" ");
  let control;
  if (kind === "textarea") {
    control = h("textarea", { id, name, rows: attrs.rows || 3, required, "aria-describedby": describedBy, ...attrs });
    control.value = value ?? "";
  } else if (kind === "select") {
    control = h("select", { id, name, required, "aria-describedby": describedBy, ...attrs },
      options.map((o) => {
        const [v, text] = Array.isArray(o) ? o : [o, o];
        return h("option", { value: v, selected: String(v) === String(value ?? "") }, text);
      }));
  } else if (kind === "checkbox") {
    control = h("input", { id, name, type: "checkbox", checked: Boolean(value), "aria-describedby": describedBy, ...attrs });
    return h("div", { class: `field field-check${wide ? " wide" : ""}`, dataset: { field: name } },
      h("span", { class: "check" }, control, h("label", { for: id }, label)),
      help ? h("p", { class: "help", id: helpId }, help) : null,
      h("p", { class: "field-error", id: errorId, hidden: true }));
  } else {
    control = h("input", { id, name, type: kind, required, "aria-describedby": describedBy, ...attrs });
    control.value = value ?? "";
  }
  return h("div", { class: `field${wide ? " wide" : ""}`, dataset: { field: name } },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    help ? h("p", { class: "help", id: helpId }, help) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }));
}

/** The typed values of a form's named controls (numbers as numbers, checkboxes as booleans). */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.dataset.skip !== undefined) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "number") out[el.name] = el.value === "" ? null : Number(el.value);
    else if (el.type === "radio") { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value;
  }
  return out;
}

function flatten(prefix, value, out) {
  if (value === null || value === undefined) return out;
  if (typeof value === "string") { (out[prefix] ||= []).push(value); return out; }
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) { (out[prefix] ||= []).push(...value); return out; }
    value.forEach((v, i) => flatten(prefix ? `${prefix}.${i}` : String(i), v, out));
    return out;
  }
  if (typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v, out);
  }
  return out;
}

/**
 * The API's error as {fieldName: [messages]}: DRF validation (extra.fields = {name: [...]}),
 * one named field (extra.field = "name"), names of unknown fields (extra.fields = [...]), or
 * service errors naming the input they refused (extra = {name: value}).
 */
export function fieldMessages(error, names = []) {
  const extra = (error && error.extra) || {};
  const message = error && error.message;
  if (extra.fields && typeof extra.fields === "object" && !Array.isArray(extra.fields)) {
    return flatten("", extra.fields, {});
  }
  const out = {};
  if (typeof extra.field === "string") out[extra.field] = [message];
  if (Array.isArray(extra.fields)) for (const name of extra.fields) if (typeof name === "string") out[name] = [message];
  if (Array.isArray(extra.missing)) for (const name of extra.missing) out[name] = [message];
  for (const key of Object.keys(extra)) if (names.includes(key) && !out[key]) out[key] = [message];
  return out;
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => { el.hidden = true; el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const summary = form.querySelector(":scope > .form-error");
  if (summary) { summary.hidden = true; summary.textContent = ""; }
}

function controlFor(form, name) {
  for (const el of form.elements) if (el.name === name) return el;
  // "variants.0.key" may be shown on the "variants" group.
  const group = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (group) return group.querySelector("input, select, textarea") || group;
  const parent = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : null;
  return parent ? controlFor(form, parent) : null;
}

/**
 * Show an API error next to the fields that caused it (aria-invalid + the field's error slot,
 * already referenced by aria-describedby); what names no field goes in the form's summary.
 * `aliases` maps API names to control names. Returns true when a field took a message.
 */
export function showErrors(form, error, { aliases = {} } = {}) {
  clearErrors(form);
  const names = [...form.elements].map((el) => el.name).filter(Boolean);
  const apiNames = [...names, ...Object.keys(aliases)];
  const byField = fieldMessages(error, apiNames);
  let first = null;
  const unplaced = [];
  for (const [rawName, messages] of Object.entries(byField)) {
    const name = aliases[rawName] || rawName;
    const control = name === "non_field_errors" ? null : controlFor(form, name);
    const slot = control && control.closest(".field, [data-field]")?.querySelector(".field-error");
    if (!slot) { unplaced.push(...messages.map((m) => (name === "non_field_errors" ? m : `${rawName}: ${m}`))); continue; }
    slot.textContent = messages.join(" ");
    slot.hidden = false;
    if (control.setAttribute) control.setAttribute("aria-invalid", "true");
    first ||= control;
  }
  let summary = form.querySelector(":scope > .form-error");
  if (!summary) {
    summary = h("p", { class: "form-error", role: "alert", hidden: true });
    form.prepend(summary);
  }
  if (!first || unplaced.length) {
    summary.textContent = [error.message || "Something went wrong.", ...unplaced].join(" ");
    summary.hidden = false;
  }
  if (first && typeof first.focus === "function") first.focus();
  else summary.focus?.();
  return Boolean(first);
}

/** Run an async action from a form or button: disables the control, reports errors. */
export async function busy(control, action) {
  const wasDisabled = control.disabled;
  control.disabled = true;
  control.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    control.disabled = wasDisabled;
    control.removeAttribute("aria-busy");
  }
}

export function debounce(fn, ms = 250) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A section with a heading; returns [section, body]. */
export function card(title, ...children) {
  const id = nextId("card");
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title), ...children);
}

/**
 * A data table. On narrow screens (under 640 px) each row becomes a small card of "label: value"
 * lines (`stack`, the default), so no column is out of reach; wide matrices pass stack: false
 * and scroll instead.
 */
export function table({ caption, columns, rows, empty = "Nothing yet.", captionHidden = false, stack = true }) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: `table-wrap${stack ? " table-stack" : ""}`, tabindex: "0", role: "region", "aria-label": caption },
    h("table", {},
      h("caption", { class: captionHidden ? "visually-hidden" : null }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c, i) => {
        const content = c.render ? c.render(row) : row[c.key];
        const attrs = { class: c.num ? "num" : null, "data-label": c.label || null };
        return i === 0 && c.rowHeader !== false
          ? h("th", { scope: "row", ...attrs }, content)
          : h("td", attrs, content);
      }))))));
}

export function loading(label = "Loading") {
  return h("p", { class: "loading", role: "status" }, `${label}…`);
}

export function errorBox(error) {
  return h("div", { class: "alert alert-error", role: "alert" },
    h("strong", {}, "Could not load this: "), error.message || String(error));
}

/**
 * Submit handling for a form: `save(values)` is awaited with the submit button busy; API errors
 * go next to their fields; `done(result)` runs on success, then `message` is announced.
 */
export function onSubmit(form, save, { message, done } = {}) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const button = e.submitter || form.querySelector("button[type=submit]");
    try {
      const result = await busy(button || form, () => save(values(form), e.submitter));
      if (done) await done(result);
      if (message) announce(typeof message === "function" ? message(result) : message, { tone: "ok" });
    } catch (err) {
      if (err && err.name === "ApiError") showErrors(form, err, { aliases: form.errorAliases || {} });
      else { showErrors(form, { message: err.message || String(err) }); console.error(err); }
    }
  });
  return form;
}

/** Replace an element's children (null/false skipped). */
export function fill(el, ...children) {
  return append(clear(el), children);
}
