// Charts with Chart.js (served locally: vendor/chart.umd.min.js), each with its data as a table
// for screen readers and keyboard users.

import { h, nextId } from "./dom.js";

const PALETTE = ["#1f5fa8", "#c2410c", "#047857", "#7c3aed", "#b45309", "#be185d"];

function chartLib() {
  return window.Chart || null;
}

/**
 * A chart figure: canvas + caption + a <details> table of the same numbers.
 * series: [{label, values: [...], color?, kind?: "line"|"bar", axis?: "y"|"y2"}]; labels: [...].
 * Returns {figure, chart, update(labels, series)}.
 */
export function chartFigure({ title, labels, series, type = "line", format = (v) => v, formatTick, formatY2, description, height = 280, captionHidden = false, dataTable = true }) {
  const id = nextId("chart");
  const canvas = h("canvas", { id, role: "img", "aria-label": `${title}: chart; the numbers are in the table below it.` });
  const tableHolder = h("div", { class: "chart-table" });
  const figure = h("figure", { class: "chart" },
    h("figcaption", { class: captionHidden ? "visually-hidden" : null }, h("strong", {}, title), description ? h("span", { class: "muted" }, ` ${description}`) : null),
    h("div", { class: "chart-box", style: `height:${height}px` }, canvas),
    dataTable ? h("details", {}, h("summary", {}, `${title}: the numbers`), tableHolder) : null);
  const state = { chart: null };

  function fillTable(lbls, ser) {
    tableHolder.replaceChildren(h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, title),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), ser.map((s) => h("th", { scope: "col", class: "num" }, s.label)))),
      h("tbody", {}, lbls.map((l, i) => h("tr", {}, h("th", { scope: "row" }, l),
        ser.map((s) => h("td", { class: "num" }, (s.axis === "y2" && formatY2 ? formatY2 : format)(s.values[i])))))))));
  }

  function datasets(ser) {
    return ser.map((s, i) => ({
      label: s.label,
      data: s.values,
      type: s.kind || type,
      yAxisID: s.axis || "y",
      borderColor: s.color || PALETTE[i % PALETTE.length],
      backgroundColor: `${s.color || PALETTE[i % PALETTE.length]}${(s.kind || type) === "bar" ? "cc" : "22"}`,
      borderWidth: 2,
      pointRadius: ser[0] && s.values.length > 60 ? 0 : 2,
      tension: 0.2,
      fill: false,
      spanGaps: true,
    }));
  }

  function draw(lbls, ser) {
    fillTable(lbls, ser);
    const Chart = chartLib();
    if (!Chart) {
      canvas.replaceWith(h("p", { class: "muted" }, "The chart library did not load; the numbers are below."));
      return;
    }
    const hasY2 = ser.some((s) => s.axis === "y2");
    if (state.chart) {
      state.chart.data.labels = lbls;
      state.chart.data.datasets = datasets(ser);
      state.chart.update();
      return;
    }
    state.chart = new Chart(canvas, {
      type,
      data: { labels: lbls, datasets: datasets(ser) },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: ser.length > 1, position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: (item) => `${item.dataset.label}: ${(item.dataset.yAxisID === "y2" && formatY2 ? formatY2 : format)(item.parsed.y)}`,
            },
          },
        },
        scales: {
          x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 16, maxTicksLimit: 8 } },
          y: { beginAtZero: true, ticks: { callback: (v) => (formatTick || format)(v) } },
          ...(hasY2 ? { y2: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { callback: (v) => (formatY2 || format)(v) } } } : {}),
        },
      },
    });
  }

  draw(labels, series);
  return {
    figure,
    get chart() { return state.chart; },
    update: draw,
    destroy() { state.chart?.destroy(); state.chart = null; },
  };
}
