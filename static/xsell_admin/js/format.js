// Numbers, money (in the store's currency), percentages and dates for people.

const locale = navigator.language || "en-US";
let currency = "USD";
let moneyFormat = new Intl.NumberFormat(locale, { style: "currency", currency });

export function setCurrency(code) {
  if (!code) return;
  try {
    moneyFormat = new Intl.NumberFormat(locale, { style: "currency", currency: code });
    currency = code;
  } catch {
    /* an unknown code: keep the previous format */
  }
}

export const storeCurrency = () => currency;

const dash = "—";

export function money(value) {
  if (value === null || value === undefined || value === "" || Number.isNaN(Number(value))) return dash;
  return moneyFormat.format(Number(value));
}

/** Axis ticks: "$12K". */
export function moneyShort(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return dash;
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 }).format(Number(value));
  } catch {
    return money(value);
  }
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return dash;
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(Number(value));
}

/** 0.123 -> "12.3%" */
export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(Number(fraction))) return dash;
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: digits }).format(Number(fraction));
}

/** 12.5 (already a percentage) -> "12.5%" */
export function percentValue(value, digits = 1) {
  if (value === null || value === undefined || value === "") return dash;
  return percent(Number(value) / 100, digits);
}

export function date(value) {
  if (!value) return dash;
  const d = new Date(value.length === 10 ? `${value}T00:00:00` : value);
  if (Number.isNaN(d.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", day: "numeric" }).format(d);
}

export function dateTime(value) {
  if (!value) return dash;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

/** Minutes as "2 days 3 hours" / "45 minutes" / "at once". */
export function duration(minutes) {
  const m = Number(minutes) || 0;
  if (m === 0) return "at once";
  const parts = [];
  const days = Math.floor(m / 1440);
  const hours = Math.floor((m % 1440) / 60);
  const mins = m % 60;
  if (days) parts.push(`${days} day${days === 1 ? "" : "s"}`);
  if (hours) parts.push(`${hours} hour${hours === 1 ? "" : "s"}`);
  if (mins) parts.push(`${mins} minute${mins === 1 ? "" : "s"}`);
  return parts.join(" ");
}

export const humanize = (s) => (s ? String(s).replace(/[_-]+/g, " ").replace(/^./, (c) => c.toUpperCase()) : "");

/** YYYY-MM-DD of a Date in local time. */
export function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const TRANSPORTS = { outbox: "the local outbox", smtp: "SMTP", esp: "your email service" };
/** How an email left: "SMTP", "the local outbox"... */
export const transportName = (t) => TRANSPORTS[t] || humanize(t);
