// Settings: the mailer (with a test send), the sending policy (caps, quiet hours, consent),
// guardrails and measurement, branding, the store's sender and postal address, and email copy.

import { ApiError, get, patch, post, put } from "../api.js";
import { card, errorBox, field, fill, h, loading, onSubmit } from "../dom.js";
import { dateTime, humanize, transportName } from "../format.js";

const ESPS = {
  postmark: { label: "Postmark", credentials: ["server_token"], optional: ["message_stream"] },
  mailgun: { label: "Mailgun", credentials: ["api_key"], optional: ["sender_domain"] },
  amazon_ses: { label: "Amazon SES", credentials: [], optional: ["configuration_set_name"] },
  brevo: { label: "Brevo", credentials: ["api_key"] },
  resend: { label: "Resend", credentials: ["api_key"] },
  sparkpost: { label: "SparkPost", credentials: ["api_key"], optional: ["subaccount"] },
  sendgrid: { label: "SendGrid", credentials: ["api_key"] },
  mailjet: { label: "Mailjet", credentials: ["api_key", "secret_key"] },
};

const KINDS = ["value", "checkin", "complements", "upgrade", "bundle", "incentive", "followup", "feedback"];

const pct = (fraction) => (fraction === null || fraction === undefined || fraction === "" ? "" : String(Math.round(Number(fraction) * 100000) / 1000));
const frac = (percentValue, digits = 3) => (percentValue === null || percentValue === "" ? null : (Number(percentValue) / 100).toFixed(digits));

function hours(label, name, value, help) {
  return field({ label, name, kind: "select", value: value ?? "", help,
    options: Array.from({ length: 24 }, (_, i) => [i, `${String(i).padStart(2, "0")}:00`]) });
}

// Mailer --------------------------------------------------------------------------------------
async function mailerCard() {
  const body = h("div", {}, loading("Loading the mailer"));
  const section = card("Mailer", body);
  let account = null;
  try {
    account = await get("mailer");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) { fill(body, errorBox(err)); return section; }
  }
  const a = account || { transport: "outbox", smtp_port: 587, smtp_security: "starttls" };
  const status = h("p", { class: "muted", id: "mailer-status" },
    account ? `Connected: ${transportName(a.transport)}${a.last_test_at ? `. Last test ${dateTime(a.last_test_at)}: ${a.last_test_ok ? "delivered" : `failed (${a.last_test_error})`}` : ""}.`
      : "No mailer is connected: emails stay in the local outbox.");
  const smtp = h("fieldset", { class: "form-grid wide", "data-transport": "smtp" }, h("legend", {}, "SMTP server"),
    field({ label: "Host", name: "smtp_host", value: a.smtp_host }),
    field({ label: "Port", name: "smtp_port", kind: "number", value: a.smtp_port ?? 587, attrs: { min: 1, max: 65535 } }),
    field({ label: "Security", name: "smtp_security", kind: "select", value: a.smtp_security || "starttls", options: [["starttls", "STARTTLS"], ["ssl", "SSL/TLS"], ["none", "None"]] }),
    field({ label: "Username", name: "smtp_username", value: a.smtp_username, attrs: { autocomplete: "off" } }),
    field({ label: "Password", name: "smtp_password", kind: "password", help: a.has_smtp_password ? "A password is stored; leave empty to keep it." : null, attrs: { autocomplete: "new-password" } }));
  const espName = a.esp || "postmark";
  const espCreds = h("div", { class: "form-grid wide", "data-field": "esp_credentials" });
  const esp = h("fieldset", { class: "form-grid wide", "data-transport": "esp" }, h("legend", {}, "Email service provider"),
    field({ label: "Provider", name: "esp", kind: "select", value: espName, options: Object.entries(ESPS).map(([k, v]) => [k, v.label]) }),
    espCreds,
    field({ label: "Webhook secret", name: "webhook_secret", kind: "password", help: "For delivery, bounce and complaint events. Leave empty to keep the stored one.", attrs: { autocomplete: "new-password" } }));
  const drawCreds = (name) => {
    const spec = ESPS[name] || { credentials: [] };
    fill(espCreds, ...[...spec.credentials, ...(spec.optional || [])].map((k) => field({
      label: humanize(k) + (spec.credentials.includes(k) ? "" : " (optional)"), name: k, kind: "password",
      attrs: { "data-cred": "true", autocomplete: "new-password" },
      help: a.has_esp_credentials ? "Stored; leave all empty to keep them." : null,
    })));
  };
  drawCreds(espName);
  const form = h("form", { class: "form-grid", "aria-label": "Mailer", novalidate: true },
    field({ label: "Send through", name: "transport", kind: "select", value: a.transport, options: [["outbox", "Local outbox (nothing leaves)"], ["smtp", "SMTP server"], ["esp", "Email service provider"]] }),
    field({ label: "From address", name: "from_email", kind: "email", value: a.from_email, required: true }),
    field({ label: "From name", name: "from_name", value: a.from_name }),
    field({ label: "Reply-to", name: "reply_to", kind: "email", value: a.reply_to }),
    smtp, esp,
    h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save mailer")));
  const showTransport = () => {
    const t = form.elements.transport.value;
    smtp.hidden = t !== "smtp";
    esp.hidden = t !== "esp";
    for (const el of smtp.querySelectorAll("input, select")) el.disabled = t !== "smtp";
    for (const el of esp.querySelectorAll("input, select")) el.disabled = t !== "esp";
  };
  form.elements.transport.addEventListener("change", showTransport);
  form.elements.esp.addEventListener("change", () => { drawCreds(form.elements.esp.value); showTransport(); });
  showTransport();
  onSubmit(form, (v) => {
    const data = { transport: v.transport, from_email: v.from_email, from_name: v.from_name || "", reply_to: v.reply_to || "" };
    if (v.transport === "smtp") {
      Object.assign(data, { smtp_host: v.smtp_host, smtp_port: v.smtp_port ?? 587, smtp_security: v.smtp_security, smtp_username: v.smtp_username || "" });
      if (v.smtp_password) data.smtp_password = v.smtp_password;
    }
    if (v.transport === "esp") {
      data.esp = v.esp;
      const creds = {};
      for (const el of espCreds.querySelectorAll("[data-cred]")) if (el.value) creds[el.name] = el.value;
      if (Object.keys(creds).length) data.esp_credentials = creds;
      if (v.webhook_secret) data.webhook_secret = v.webhook_secret;
    }
    return put("mailer", data);
  }, {
    message: "Mailer saved.",
    done: (saved) => {
      status.textContent = `Connected: ${transportName(saved.transport)}.`;
      form.querySelectorAll("input[type=password]").forEach((el) => { el.value = ""; });
    },
  });

  // Test send.
  const result = h("div", { "aria-live": "polite", id: "mailer-test-result" });
  const testForm = h("form", { class: "toolbar", "aria-label": "Send a test email" },
    field({ label: "Send a test email to", name: "to", kind: "email", required: true, attrs: { autocomplete: "email" } }),
    h("button", { class: "btn", type: "submit" }, "Send test"));
  onSubmit(testForm, (v) => post("mailer/test", { to: v.to }), {
    done: (r) => {
      fill(result, r.ok
        ? h("p", { class: "alert alert-ok" }, `Sent through ${transportName(r.transport)}: ${r.message_id}${r.transport === "outbox" ? " (kept on this machine, not sent)" : ""}`)
        : h("p", { class: "alert alert-error" }, `Not delivered through ${transportName(r.transport)}: ${r.error}`));
      status.textContent = `Last test just now: ${r.ok ? "delivered" : "failed"}.`;
    },
    message: (r) => (r.ok ? "Test email sent." : "The test email failed."),
  });
  fill(body, status, form, h("h3", {}, "Test the connection"), testForm, result);
  return section;
}

// Sending policy ------------------------------------------------------------------------------
// Caps, quiet hours and consent live in GET/PUT settings/guardrails (sequences.SequenceSettings).
const POLICY_FIELDS = ["max_per_window", "window_days", "min_spacing_hours", "offer_gap_hours", "daily_cap",
  "frequent_buyer_orders", "frequent_buyer_days", "frequent_buyer_max_per_window", "freshness_hours",
  "quiet_start_hour", "quiet_end_hour", "soft_opt_in", "soft_opt_in_policy"];

async function policyCard() {
  const body = h("div", {}, loading("Loading the sending policy"));
  const section = card("Caps, quiet hours and consent", body);
  try {
    const s = await get("settings/guardrails");
    if (!("max_per_window" in s)) {
      fill(body, h("p", { class: "alert alert-info" },
        "This server does not offer the sending policy yet. The defaults apply: at most 3 emails in 7 days, 20 hours apart, 48 hours between offers, 5,000 a day, quiet from 21:00 to 08:00, and no soft opt-in."));
      return section;
    }
    const n = (label, name, attrs = {}, help = null) => field({ label, name, kind: "number", value: s[name], attrs, help });
    const form = h("form", { class: "form-grid", "aria-label": "Sending policy", novalidate: true },
      h("fieldset", { class: "form-grid wide" }, h("legend", {}, "Frequency caps, across all sequences"),
        n("Emails per customer per window", "max_per_window", { min: 1, max: 20 }),
        n("Window (days)", "window_days", { min: 1, max: 60 }),
        n("Hours between two emails", "min_spacing_hours", { min: 0, max: 168 }),
        n("Hours between two offers", "offer_gap_hours", { min: 0, max: 720 }),
        n("Store-wide emails per day", "daily_cap", { min: 0 }, "0: no cap"),
        n("Content older than this is refreshed (hours)", "freshness_hours", { min: 1, max: 720 })),
      h("fieldset", { class: "form-grid wide" }, h("legend", {}, "Frequent buyers (they buy anyway: fewer emails)"),
        n("Orders that make a frequent buyer", "frequent_buyer_orders", { min: 1, max: 100 }),
        n("Within days", "frequent_buyer_days", { min: 1, max: 365 }),
        n("Their emails per window", "frequent_buyer_max_per_window", { min: 0, max: 20 })),
      h("fieldset", { class: "form-grid wide" }, h("legend", {}, "Quiet hours (the customer's local time)"),
        hours("Quiet from", "quiet_start_hour", s.quiet_start_hour),
        hours("Quiet until", "quiet_end_hour", s.quiet_end_hour)),
      h("fieldset", { class: "form-grid wide" }, h("legend", {}, "Consent"),
        field({ label: "Soft opt-in: email past buyers whose consent is unknown", name: "soft_opt_in", kind: "checkbox", value: s.soft_opt_in, wide: true,
          help: "Only where the law allows it for existing customers (WooCommerce records no consent), and only under a policy you publish." }),
        field({ label: "Your soft opt-in policy (a link or the text)", name: "soft_opt_in_policy", kind: "textarea", value: s.soft_opt_in_policy, wide: true, attrs: { rows: 2 } })),
      h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save policy")));
    onSubmit(form, (v) => {
      const data = {};
      for (const k of POLICY_FIELDS) data[k] = k.endsWith("_hour") ? Number(v[k]) : v[k];
      return put("settings/guardrails", data);
    }, { message: "Sending policy saved." });
    fill(body, form);
  } catch (err) {
    fill(body, errorBox(err));
  }
  return section;
}

// Guardrails and measurement ------------------------------------------------------------------
async function guardrailsCard() {
  const body = h("div", {}, loading("Loading guardrails"));
  const section = card("Guardrails and measurement", body);
  try {
    const g = await get("settings/guardrails");
    const form = h("form", { class: "form-grid", "aria-label": "Guardrails and measurement" },
      field({ label: "Margin floor (%)", name: "margin_floor", kind: "number", value: pct(g.margin_floor), help: "No offer may take an item's margin below this.", attrs: { min: 0, max: 99.9, step: 0.1 } }),
      field({ label: "Holdout share (%)", name: "holdout_share", kind: "number", value: pct(g.holdout_share), help: "Customers kept out at random to measure incremental revenue.", attrs: { min: 0, max: 50, step: 0.1 } }),
      field({ label: "Attribution window (days)", name: "attribution_window_days", kind: "number", value: g.attribution_window_days, attrs: { min: 1, max: 90 } }),
      field({ label: "Outcome horizon (days)", name: "horizon_days", kind: "number", value: g.horizon_days, attrs: { min: 1, max: 365 } }),
      field({ label: "CUPED pre-period (days)", name: "pre_period_days", kind: "number", value: g.pre_period_days, attrs: { min: 1, max: 730 } }),
      field({ label: "Complaint alarm (%)", name: "complaint_alarm_rate", kind: "number", value: pct(g.complaint_alarm_rate), attrs: { min: 0.01, max: 50, step: 0.01 } }),
      field({ label: "Review offers after (days)", name: "review_after_days", kind: "number", value: g.review_after_days, attrs: { min: 1, max: 730 } }),
      h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save guardrails")));
    onSubmit(form, (v) => put("settings/guardrails", {
      ...v,
      margin_floor: frac(v.margin_floor), holdout_share: frac(v.holdout_share), complaint_alarm_rate: frac(v.complaint_alarm_rate, 4),
    }), { message: "Guardrails saved." });
    form.errorAliases = {};
    fill(body, form);
  } catch (err) {
    fill(body, errorBox(err));
  }
  return section;
}

// Branding --------------------------------------------------------------------------------------
async function brandingCard() {
  const body = h("div", {}, loading("Loading branding"));
  const section = card("Branding", body);
  try {
    const b = await get("emails/settings");
    const preview = h("iframe", { title: "Branding preview: a sample email", sandbox: "", class: "branding-preview", style: "width:100%;height:520px;border:1px solid var(--border);border-radius:8px;background:#fff", hidden: true });
    const form = h("form", { class: "form-grid", "aria-label": "Branding" },
      field({ label: "Logo URL", name: "logo_url", kind: "url", value: b.logo_url, wide: true }),
      field({ label: "Logo description", name: "logo_alt", value: b.logo_alt, help: "Read aloud by screen readers and shown when images are off." }),
      field({ label: "Logo width (px)", name: "logo_width", kind: "number", value: b.logo_width, attrs: { min: 40, max: 600 } }),
      field({ label: "Primary colour", name: "primary_color", kind: "color", value: b.primary_color }),
      field({ label: "Accent colour", name: "accent_color", kind: "color", value: b.accent_color }),
      field({ label: "Text colour", name: "text_color", kind: "color", value: b.text_color }),
      field({ label: "Background colour", name: "background_color", kind: "color", value: b.background_color }),
      field({ label: "Font family", name: "font_family", value: b.font_family }),
      field({ label: "Feedback page", name: "feedback_url", kind: "url", value: b.feedback_url }),
      field({ label: "Support page", name: "support_url", kind: "url", value: b.support_url }),
      field({ label: "Footer note", name: "footer_note", kind: "textarea", value: b.footer_note, wide: true }),
      h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save branding")));
    onSubmit(form, (v) => put("emails/settings", v), {
      message: "Branding saved.",
      done: async () => {
        const sample = await post("emails/preview", { kind: "complements" });
        preview.srcdoc = sample.html;
        preview.hidden = false;
      },
    });
    fill(body, form, preview);
  } catch (err) {
    fill(body, errorBox(err));
  }
  return section;
}

// Store sender and postal address --------------------------------------------------------------
async function storeCard(ctx) {
  const body = h("div", {});
  const section = card("Sender and postal address", body);
  const store = ctx.store || (await get("store"));
  const form = h("form", { class: "form-grid", "aria-label": "Sender and postal address" },
    field({ label: "Postal address (shown in every email's footer)", name: "postal_address", kind: "textarea", value: store.postal_address ?? "", wide: true,
      help: "Anti-spam laws (CAN-SPAM, CASL) require a physical address in marketing email." }),
    h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save address")));
  const supported = "postal_address" in store;
  if (!supported) {
    form.prepend(h("p", { class: "alert alert-info wide" }, "This server cannot change the store's postal address yet (PATCH /api/v1/store with postal_address)."));
    [...form.elements].forEach((el) => { el.disabled = true; });
  }
  onSubmit(form, (v) => patch("store", { postal_address: v.postal_address }), { message: "Address saved." });
  body.append(form);
  return section;
}

// Email copy ------------------------------------------------------------------------------------
async function copyCard() {
  const body = h("div", {});
  const section = card("Email copy", body);
  const picker = h("form", { class: "toolbar", "aria-label": "Choose an email kind" },
    field({ label: "Email kind", name: "kind", kind: "select", value: "value", options: KINDS.map((k) => [k, humanize(k)]) }));
  const holder = h("div", {});
  const load = async () => {
    const kind = picker.elements.kind.value;
    fill(holder, loading("Loading the copy"));
    try {
      const c = await get(`emails/templates/${kind}`);
      const form = h("form", { class: "form-grid", "aria-label": `Copy of the ${kind} email` },
        h("p", { class: "help wide" }, "Leave a field empty to use the default. Placeholders: {first_name}, {store_name}."),
        field({ label: "Subject", name: "subject", value: c.subject, wide: true, attrs: { placeholder: "Default subject" } }),
        field({ label: "Preheader", name: "preheader", value: c.preheader, wide: true, attrs: { placeholder: "Default preheader" } }),
        field({ label: "Heading", name: "heading", value: c.heading, wide: true, attrs: { placeholder: "Default heading" } }),
        field({ label: "Body", name: "body", kind: "textarea", value: c.body, wide: true, attrs: { rows: 5, placeholder: "Default body" } }),
        field({ label: "Button label", name: "cta_label", value: c.cta_label, attrs: { placeholder: "Default label" } }),
        h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Save copy")));
      onSubmit(form, (v) => put(`emails/templates/${kind}`, v), { message: "Copy saved." });
      fill(holder, form);
    } catch (err) {
      fill(holder, errorBox(err));
    }
  };
  picker.elements.kind.addEventListener("change", load);
  picker.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  body.append(picker, holder);
  load();
  return section;
}

export async function render(view, route, ctx) {
  view.append(h("h1", {}, "Settings"));
  const nav = h("nav", { "aria-label": "Settings sections", class: "tabs" },
    ["Mailer", "Caps, quiet hours and consent", "Guardrails and measurement", "Branding", "Sender and postal address", "Email copy"]
      .map((t, i) => h("a", { href: "#/settings", dataset: { target: String(i) } }, t)));
  view.append(nav);
  const sections = await Promise.all([mailerCard(), policyCard(), guardrailsCard(), brandingCard(), storeCard(ctx), copyCard()]);
  sections.forEach((s, i) => { s.id = `settings-${i}`; });
  nav.querySelectorAll("a").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    const target = document.getElementById(`settings-${a.dataset.target}`);
    target.scrollIntoView({ behavior: "smooth", block: "start" });
    const heading = target.querySelector("h2");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }));
  view.append(...sections);
}

