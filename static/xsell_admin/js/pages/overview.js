// Overview: incremental revenue (treated vs holdout, with its interval) first, attributed
// revenue beside it, revenue per recipient, sends, clicks, orders, unsubscribes, and charts.

import { get } from "../api.js";
import { chartFigure } from "../charts.js";
import { card, clear, clearErrors, errorBox, field, fill, h, loading, showErrors, table } from "../dom.js";
import { isoDate, money, moneyShort, number, percent } from "../format.js";

const PERIODS = [
  ["all", "All time"],
  ["30", "Last 30 days"],
  ["90", "Last 90 days"],
  ["365", "Last 12 months"],
  ["custom", "Custom dates"],
];

function periodQuery(form) {
  const preset = form.elements.period.value;
  if (preset === "all") return {};
  if (preset === "custom") return { start: form.elements.start.value, end: form.elements.end.value };
  const end = new Date();
  const start = new Date(end.getTime() - (Number(preset) - 1) * 86400000);
  return { start: isoDate(start), end: isoDate(end) };
}

function stat(label, value, note, { id, lead = false } = {}) {
  return h("div", { class: `stat${lead ? " stat-lead" : ""}`, id },
    h("p", { class: "stat-label" }, label),
    h("p", { class: "stat-value" }, value),
    note ? h("p", { class: "stat-note" }, note) : null);
}

function periodLabel(period, interval) {
  const d = new Date(`${period}T00:00:00`);
  if (Number.isNaN(d.getTime())) return period;
  const opts = interval === "month" ? { month: "short", year: "numeric" } : { month: "short", day: "numeric", year: "2-digit" };
  return new Intl.DateTimeFormat(navigator.language || "en-US", opts).format(d);
}

function sum(points) {
  return points.reduce((acc, p) => acc + (Number(p.value) || 0), 0);
}

function incrementalCard(summary) {
  const inc = summary.incremental || {};
  const confidence = percent(inc.confidence ?? 0.95, 0);
  if (inc.revenue === null || inc.revenue === undefined) {
    const why = inc.recipients || inc.holdout
      ? `${number(inc.recipients)} recipients and ${number(inc.holdout)} held out so far; ${number(inc.pending)} still inside the ${inc.horizon_days}-day outcome window.`
      : "No recipient has finished the outcome window yet.";
    return stat("Incremental revenue", "Not measurable yet", why, { id: "incremental", lead: true });
  }
  const interval = inc.ci_low !== null && inc.ci_high !== null
    ? `${confidence} interval: ${money(inc.ci_low)} to ${money(inc.ci_high)}`
    : "Interval not available";
  return stat("Incremental revenue", money(inc.revenue),
    `${interval}. Treated vs holdout (${number(inc.recipients)} recipients, ${number(inc.holdout)} held out) over ${inc.horizon_days} days.`,
    { id: "incremental", lead: true });
}

export async function render(view) {
  const form = h("form", { class: "toolbar", "aria-label": "Period" },
    field({ label: "Period", name: "period", kind: "select", options: PERIODS, value: "all" }),
    field({ label: "From", name: "start", kind: "date", attrs: { disabled: true } }),
    field({ label: "To", name: "end", kind: "date", attrs: { disabled: true } }),
    field({ label: "Chart interval", name: "interval", kind: "select", options: [["day", "Day"], ["week", "Week"], ["month", "Month"]], value: "week" }),
    h("button", { type: "submit", class: "btn" }, "Update"));
  const body = h("div", { class: "overview-body" });
  view.append(h("h1", {}, "Overview"),
    h("p", { class: "lede" }, "What the emails earn. Incremental revenue compares customers who got the emails with a random holdout who did not: it is the figure to trust. Attributed revenue counts orders after a click and is shown beside it, not instead of it."),
    form, body);

  const charts = [];
  const refresh = async () => {
    charts.splice(0).forEach((c) => c.destroy());
    clearErrors(form);
    fill(body, loading("Loading the figures"));
    const q = periodQuery(form);
    const interval = form.elements.interval.value;
    try {
      const [summary, revenue, attributed, sent, clicks, funnel, deliverability] = await Promise.all([
        get("reports/summary", q),
        get("reports/timeseries", { ...q, metric: "revenue", interval }),
        get("reports/timeseries", { ...q, metric: "attributed_revenue", interval }),
        get("reports/timeseries", { ...q, metric: "emails_sent", interval }),
        get("reports/timeseries", { ...q, metric: "clicks", interval }),
        get("reports/funnel", q),
        get("reports/deliverability", q),
      ]);
      clear(body);
      const inc = summary.incremental || {};
      const att = summary.attributed || {};
      const store = summary.store || {};
      const sends = store.emails_sent ?? sum(sent.points);
      body.append(
        h("div", { class: "stats stats-lead", role: "group", "aria-label": "Revenue from the emails" },
          incrementalCard(summary),
          stat("Attributed revenue", money(att.revenue),
            `${number(att.orders)} orders within ${att.window_days ?? "?"} days of a click (last click). Not causal: some would have happened anyway.`,
            { id: "attributed" }),
          stat("Incremental revenue per recipient", money(inc.per_recipient),
            inc.per_recipient === null || inc.per_recipient === undefined ? "Appears once recipients finish the outcome window." : "Treated minus holdout, per recipient.",
            { id: "per-recipient" })),
        h("div", { class: "stats", role: "group", "aria-label": "Activity" },
          stat("Emails sent", number(sends), null, { id: "sends" }),
          stat("Clicks", number(sum(clicks.points)), null, { id: "clicks" }),
          stat("Orders (store)", number(store.orders), `${money(store.revenue)} revenue, ${number(store.customers)} customers`, { id: "orders" }),
          stat("Unsubscribes", number(deliverability.unsubscribes),
            deliverability.complaint_rate !== null && deliverability.complaint_rate !== undefined
              ? `Complaint rate ${percent(deliverability.complaint_rate, 2)}${deliverability.alarm ? " — above the alarm" : ""}` : null,
            { id: "unsubscribes" })),
      );
      if (deliverability.alarm) {
        body.append(h("div", { class: "alert alert-error", role: "alert" },
          `Complaints are above ${percent(deliverability.complaint_alarm_rate, 2)}: review the sequences below.`));
      }

      // Revenue over time: store revenue and attributed revenue on one period axis.
      const periods = [...new Set([...revenue.points, ...attributed.points].map((p) => p.period))].sort();
      const byPeriod = (points) => { const m = new Map(points.map((p) => [p.period, p.value])); return periods.map((p) => m.get(p) ?? 0); };
      const revenueChart = chartFigure({
        title: "Revenue over time",
        description: `(per ${interval})`,
        labels: periods.map((p) => periodLabel(p, interval)),
        series: [
          { label: "Store revenue", values: byPeriod(revenue.points) },
          { label: "Attributed to emails", values: byPeriod(attributed.points) },
        ],
        format: money,
        formatTick: moneyShort,
      });
      const emailPeriods = [...new Set([...sent.points, ...clicks.points].map((p) => p.period))].sort();
      const byEmailPeriod = (points) => { const m = new Map(points.map((p) => [p.period, p.value])); return emailPeriods.map((p) => m.get(p) ?? 0); };
      const emailChart = chartFigure({
        title: "Emails and clicks",
        description: `(per ${interval})`,
        type: "bar",
        labels: emailPeriods.map((p) => periodLabel(p, interval)),
        series: [
          { label: "Emails sent", values: byEmailPeriod(sent.points) },
          { label: "Clicks", values: byEmailPeriod(clicks.points) },
        ],
        format: (v) => number(v),
      });
      charts.push(revenueChart, emailChart);
      body.append(h("div", { class: "charts" },
        card("Revenue", revenueChart.figure),
        card("Emails", emailPeriods.length ? emailChart.figure : h("p", { class: "empty" }, "No email has been sent in this period."))));

      body.append(card("Sequences",
        table({
          caption: "Per sequence: enrolled, held out, sent, clicks, buyers and attributed revenue",
          captionHidden: true,
          columns: [
            { label: "Sequence", render: (r) => (r.sequence_id ? h("a", { href: `#/sequences/${r.sequence_id}` }, r.name) : r.name) },
            { label: "Enrolled", num: true, render: (r) => number(r.enrolled) },
            { label: "Held out", num: true, render: (r) => number(r.holdout) },
            { label: "Sent", num: true, render: (r) => number(r.emails_sent) },
            { label: "Clickers", num: true, render: (r) => number(r.clickers) },
            { label: "Buyers", num: true, render: (r) => number(r.buyers) },
            { label: "Attributed revenue", num: true, render: (r) => money(r.attributed_revenue) },
          ],
          rows: funnel.sequences || [],
          empty: "No sequence has enrolled anyone in this period.",
        })));
    } catch (err) {
      clear(body);
      if (err.status === 400 && showErrors(form, err)) return;
      body.append(errorBox(err));
    }
  };

  form.elements.period.addEventListener("change", () => {
    const custom = form.elements.period.value === "custom";
    form.elements.start.disabled = !custom;
    form.elements.end.disabled = !custom;
    if (!custom) refresh();
  });
  form.elements.interval.addEventListener("change", refresh);
  form.addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  await refresh();
  return () => charts.forEach((c) => c.destroy());
}
