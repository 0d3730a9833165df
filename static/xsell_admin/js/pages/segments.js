// Segments: customers per lifecycle stage and RFM group, retention by segment, and predicted
// value (BG/NBD + Gamma-Gamma) with churn-risk bands.

import { get } from "../api.js";
import { chartFigure } from "../charts.js";
import { card, clear, errorBox, field, fill, h, loading, table } from "../dom.js";
import { humanize, money, number, percent } from "../format.js";

const LIFECYCLE_ORDER = ["new", "active", "loyal", "at_risk", "lapsed"];

function ordered(counts, order = []) {
  const keys = Object.keys(counts || {});
  return [...order.filter((k) => keys.includes(k)), ...keys.filter((k) => !order.includes(k)).sort()];
}

function countsCard(title, counts, order, description) {
  const keys = ordered(counts, order);
  const total = keys.reduce((a, k) => a + counts[k], 0);
  if (!keys.length) return card(title, h("p", { class: "empty" }, "No ordering customers yet."));
  const figure = chartFigure({
    title, type: "bar", labels: keys.map(humanize), height: 220, captionHidden: true, dataTable: false,
    series: [{ label: "Customers", values: keys.map((k) => counts[k]) }],
    format: (v) => number(v),
  });
  return [card(title, h("p", { class: "muted" }, description), figure.figure,
    table({
      caption: `${title}: customers and share`, captionHidden: true,
      columns: [
        { label: "Segment", render: (r) => humanize(r.key) },
        { label: "Customers", num: true, render: (r) => number(r.n) },
        { label: "Share", num: true, render: (r) => percent(total ? r.n / total : null) },
      ],
      rows: keys.map((k) => ({ key: k, n: counts[k] })),
    })), figure];
}

export async function render(view) {
  view.append(h("h1", {}, "Segments"),
    h("p", { class: "lede" }, "Who your ordering customers are, from their own orders: lifecycle stage and RFM (recency, frequency, money) group. Sequence conditions and incentives can target them."));
  const body = h("div", {}, loading("Loading segments"));
  view.append(body);
  const charts = [];
  try {
    const segments = await get("segments");
    clear(body);
    const [lifeCard, lifeChart] = countsCard("Lifecycle stage", segments.lifecycle, LIFECYCLE_ORDER,
      "New: one order; active and loyal: buying regularly; at risk and lapsed: overdue against their own rhythm.");
    const [rfmCard, rfmChart] = countsCard("RFM group", segments.rfm, ["champion", "loyal", "promising", "new", "at_risk", "hibernating"],
      "Recency, frequency and money scored against the store's other customers.");
    charts.push(lifeChart, rfmChart);
    body.append(h("div", { class: "grid-2" }, lifeCard, rfmCard));
  } catch (err) {
    fill(body, errorBox(err));
  }

  // Retention by segment.
  const retentionForm = h("form", { class: "toolbar", "aria-label": "Retention options" },
    field({ label: "Segments by", name: "dimension", kind: "select", options: [["lifecycle", "Lifecycle stage"], ["rfm", "RFM group"]], value: "lifecycle" }),
    field({ label: "Months", name: "months", kind: "number", value: 6, attrs: { min: 1, max: 36 } }),
    h("button", { class: "btn", type: "submit" }, "Show"));
  const retentionBody = h("div", {});
  view.append(card("Retention by segment", retentionForm, retentionBody));
  const loadRetention = async () => {
    fill(retentionBody, loading("Loading retention"));
    try {
      const data = await get("reports/cohorts", { by: "segment", dimension: retentionForm.elements.dimension.value, months: retentionForm.elements.months.value });
      const months = data.months;
      fill(retentionBody, table({
        caption: "Share of each segment still buying, by month since the first purchase", stack: false,
        columns: [
          { label: "Segment", render: (r) => humanize(r.segment) },
          { label: "Customers", num: true, render: (r) => number(r.customers) },
          ...Array.from({ length: months }, (_, i) => ({ label: `Month ${i}`, num: true, render: (r) => percent(r.retention?.[i], 0) })),
        ],
        rows: data.rows || [],
        empty: "No customers yet.",
      }));
    } catch (err) {
      fill(retentionBody, errorBox(err));
    }
  };
  retentionForm.addEventListener("submit", (e) => { e.preventDefault(); loadRetention(); });
  loadRetention();

  // Predicted value: fitted on demand (a few seconds on a large store).
  const clvBody = h("div", {}, loading("Fitting the customer-value model"));
  view.append(card("Predicted customer value", clvBody));
  get("reports/clv").then((clv) => {
    clear(clvBody);
    if (clv.status !== "ok") {
      clvBody.append(h("p", { class: "empty" }, clv.message || "Not enough repeat buyers to fit the model yet."));
      return;
    }
    const risk = clv.churn_risk || {};
    clvBody.append(
      h("div", { class: "stats" },
        h("div", { class: "stat" }, h("p", { class: "stat-label" }, "12-month value, mean"), h("p", { class: "stat-value" }, money(clv.clv_12m_mean))),
        h("div", { class: "stat" }, h("p", { class: "stat-label" }, "Purchases in 90 days"), h("p", { class: "stat-value" }, number(clv.expected_purchases_90d))),
        h("div", { class: "stat" }, h("p", { class: "stat-label" }, "High churn risk"), h("p", { class: "stat-value" }, number(risk.high)),
          h("p", { class: "stat-note" }, `${number(risk.medium)} medium, ${number(risk.low)} low`))),
      table({
        caption: "By first-purchase month",
        columns: [
          { label: "Cohort", key: "cohort" },
          { label: "Customers", num: true, render: (r) => number(r.customers) },
          { label: "12-month value (mean)", num: true, render: (r) => money(r.clv_12m_mean) },
          { label: "Still active (mean)", num: true, render: (r) => percent(r.p_alive_mean, 0) },
          { label: "Purchases in 90 days", num: true, render: (r) => number(r.expected_purchases_90d, 1) },
        ],
        rows: clv.cohorts || [],
      }));
  }).catch((err) => fill(clvBody, errorBox(err)));

  return () => charts.forEach((c) => c && c.destroy());
}
