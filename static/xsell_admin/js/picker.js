// Pickers for products and customers: a labelled search box, a list of results to choose from
// (buttons, so keyboard and screen readers work as usual), and the chosen items with Remove.

import { get } from "./api.js";
import { clear, debounce, fill, h, nextId } from "./dom.js";
import { money, number } from "./format.js";

/**
 * picker({label, name, source: "products"|"customers", multiple, selected, onChange, help, query})
 * Returns the element; element.value() gives the chosen items; element.set(items) replaces them.
 * The wrapper is a `.field` with data-field=<name> so API errors for <name> show beside it.
 */
export function picker({ label, name, source = "products", multiple = false, selected = [], onChange, help, query = {}, limit = 8 }) {
  const id = nextId(`pick-${name}`);
  const errorId = `${id}-error`;
  const helpId = help ? `${id}-help` : null;
  const statusId = `${id}-status`;
  let chosen = [...selected];
  const input = h("input", {
    id, type: "search", autocomplete: "off", "data-skip": "",
    placeholder: source === "products" ? "Search by title, SKU or vendor" : "Search by email or name",
    "aria-describedby": [helpId, statusId, errorId].filter(Boolean).join(" "),
  });
  const results = h("ul", { class: "picker-results", "aria-label": `${label}: results` });
  const status = h("p", { class: "help", id: statusId, "aria-live": "polite" });
  const chosenList = h("ul", { class: "chosen", "aria-label": `${label}: chosen` });
  const describe = (item) => (source === "products"
    ? [item.title, h("span", { class: "muted" }, ` ${money(item.price)}${item.inventory !== null && item.inventory !== undefined ? ` · ${number(item.inventory)} in stock` : ""}`)]
    : [[item.first_name, item.last_name].filter(Boolean).join(" ") || item.email, h("span", { class: "muted" }, ` ${item.email}${item.orders_count !== undefined ? ` · ${number(item.orders_count)} orders` : ""}`)]);
  const itemName = (item) => (source === "products" ? item.title : item.email);

  const drawChosen = () => {
    clear(chosenList);
    for (const item of chosen) {
      chosenList.append(h("li", { dataset: { id: String(item.id) } }, h("span", { class: "item-title" }, describe(item)),
        h("button", {
          type: "button", class: "btn btn-small", "aria-label": `Remove ${itemName(item)}`,
          onclick: () => { chosen = chosen.filter((c) => c.id !== item.id); drawChosen(); onChange?.(chosen); input.focus(); },
        }, "Remove")));
    }
  };
  const choose = (item) => {
    if (multiple) { if (!chosen.some((c) => c.id === item.id)) chosen.push(item); } else chosen = [item];
    drawChosen();
    clear(results);
    status.textContent = `${itemName(item)} chosen.`;
    input.value = "";
    onChange?.(chosen);
    input.focus();
  };
  let controller = null;
  const search = debounce(async () => {
    const term = input.value.trim();
    controller?.abort();
    if (!term) { clear(results); status.textContent = ""; return; }
    controller = new AbortController();
    try {
      const page = await get(source, { search: term, limit, ...query }, { signal: controller.signal });
      const rows = page.results || [];
      fill(results, ...rows.map((item) => h("li", {},
        h("span", { class: "item-title" }, describe(item)),
        h("button", { type: "button", class: "btn btn-small", "aria-label": `Choose ${itemName(item)}`, dataset: { id: String(item.id) }, onclick: () => choose(item) },
          chosen.some((c) => c.id === item.id) ? "Chosen" : "Choose"))));
      status.textContent = rows.length ? `${page.count} found${page.count > rows.length ? `, first ${rows.length} shown` : ""}.` : "Nothing found.";
    } catch (err) {
      if (err.name !== "AbortError") status.textContent = `Search failed: ${err.message}`;
    }
  }, 250);
  input.addEventListener("input", search);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); search(); }
    if (e.key === "ArrowDown") { e.preventDefault(); results.querySelector("button")?.focus(); }
  });
  results.addEventListener("keydown", (e) => {
    const buttons = [...results.querySelectorAll("button")];
    const i = buttons.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && i < buttons.length - 1) { e.preventDefault(); buttons[i + 1].focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? buttons[i - 1] : input).focus(); }
    if (e.key === "Escape") { clear(results); input.focus(); }
  });
  drawChosen();
  const el = h("div", { class: "field picker wide", dataset: { field: name } },
    h("label", { for: id }, label),
    input,
    help ? h("p", { class: "help", id: helpId }, help) : null,
    status, results, chosenList,
    h("p", { class: "field-error", id: errorId, hidden: true }));
  el.value = () => chosen;
  el.set = (items) => { chosen = [...items]; drawChosen(); };
  el.input = input;
  return el;
}
