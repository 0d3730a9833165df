// The admin's shell: a hash router (#/overview, #/sequences/12, #/previews?step=3...), the
// navigation, focus management on route change, and the store's context for every page.

import { config, get } from "./api.js";
import { announce, clear, errorBox, h, loading } from "./dom.js";
import { setCurrency } from "./format.js";

const ROUTES = {
  overview: { title: "Overview", load: () => import("./pages/overview.js") },
  sequences: { title: "Sequences", load: () => import("./pages/sequences.js") },
  offers: { title: "Offers", load: () => import("./pages/offers.js") },
  previews: { title: "Email preview", load: () => import("./pages/previews.js") },
  segments: { title: "Segments", load: () => import("./pages/segments.js") },
  experiments: { title: "Experiments", load: () => import("./pages/experiments.js") },
  settings: { title: "Settings", load: () => import("./pages/settings.js") },
  review: { title: "Review", load: () => import("./pages/review.js") },
};
const DEFAULT_ROUTE = "overview";

const main = document.getElementById("main");
const ctx = { store: config.store || null, config };
let cleanup = null;
let renderToken = 0;
let firstRender = true;

export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, queryString = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || DEFAULT_ROUTE, parts: parts.slice(1), query: Object.fromEntries(new URLSearchParams(queryString)) };
}

export function navigate(path) {
  const target = `#/${path.replace(/^#?\/?/, "")}`;
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

function markNav(name) {
  document.querySelectorAll("#nav a[href^='#/']").forEach((a) => {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

async function render() {
  const route = parseHash();
  const spec = ROUTES[route.name];
  const token = ++renderToken;
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  closeNav();
  delete main.dataset.rendered;
  clear(main);
  if (!spec) {
    main.append(h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, "There is no such page. ", h("a", { href: `#/${DEFAULT_ROUTE}` }, "Go to the overview.")));
    focusHeading();
    return;
  }
  markNav(route.name);
  document.title = `${spec.title} · xsell${ctx.store ? ` · ${ctx.store.name}` : ""}`;
  main.setAttribute("aria-busy", "true");
  main.append(loading(spec.title));
  try {
    const page = await spec.load();
    if (token !== renderToken) return;
    clear(main);
    const view = h("div", { class: "page", dataset: { page: route.name } });
    main.append(view);
    cleanup = (await page.render(view, route, ctx)) || null;
  } catch (err) {
    if (token !== renderToken) return;
    clear(main);
    main.append(h("h1", { tabindex: "-1" }, spec.title), errorBox(err));
    console.error(err);
  } finally {
    if (token === renderToken) main.removeAttribute("aria-busy");
  }
  if (token === renderToken) {
    focusHeading();
    main.dataset.rendered = window.location.hash;  // tests wait for this
  }
}

function focusHeading() {
  // On the first load the browser's focus stays put (no jump past the skip link); afterwards
  // each route change moves focus to the new page's heading, so screen readers announce it.
  if (firstRender) { firstRender = false; return; }
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  } else {
    main.focus();
  }
  window.scrollTo({ top: 0 });
}

// Navigation on narrow screens: a disclosure button.
const navToggle = document.getElementById("nav-toggle");
const nav = document.getElementById("nav");
function closeNav() {
  if (!navToggle) return;
  navToggle.setAttribute("aria-expanded", "false");
  nav.classList.remove("open");
}
if (navToggle) {
  navToggle.addEventListener("click", () => {
    const open = navToggle.getAttribute("aria-expanded") !== "true";
    navToggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
    if (open) nav.querySelector("a")?.focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && nav.classList.contains("open")) { closeNav(); navToggle.focus(); }
  });
}

// The skip link targets <main> without touching the hash the router reads.
document.querySelector(".skip-link")?.addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

window.addEventListener("xsell:signed-out", () => {
  const banner = document.getElementById("signed-out");
  if (banner) banner.hidden = false;
});

async function boot() {
  if (ctx.store) setCurrency(ctx.store.currency);
  try {
    // The store (name, currency): known from the session, or fetched (embedded with a token).
    const store = await get("store");
    ctx.store = store;
    setCurrency(store.currency);
    const name = document.getElementById("store-name");
    if (name) name.textContent = store.name;
  } catch (err) {
    if (!ctx.store) announce(`Could not load the store: ${err.message}`, { tone: "error" });
  }
  window.addEventListener("hashchange", render);
  if (!window.location.hash.startsWith("#/")) {
    history.replaceState(null, "", `${window.location.pathname}${window.location.search}#/${DEFAULT_ROUTE}`);
  }
  await render();
  document.documentElement.dataset.ready = "true";
}

boot();
