// Email preview: any step of any sequence rendered with a real customer's data (their
// recommendations, prices, stock), at desktop and mobile widths, and a test send of it.

import { all, exists, get, post } from "../api.js";
import { card, errorBox, field, fill, h, loading, onSubmit } from "../dom.js";
import { humanize, transportName } from "../format.js";
import { picker } from "../picker.js";

const KINDS = ["value", "checkin", "complements", "upgrade", "bundle", "incentive", "followup", "feedback"];

function frames(result) {
  const desktop = h("iframe", { title: `Desktop preview: ${result.subject}`, sandbox: "allow-popups allow-popups-to-escape-sandbox", srcdoc: result.html, id: "preview-desktop" });
  const mobile = h("iframe", { title: `Mobile preview (375 pixels wide): ${result.subject}`, sandbox: "allow-popups allow-popups-to-escape-sandbox", srcdoc: result.html, id: "preview-mobile" });
  return h("div", { class: "previews" },
    h("figure", { class: "device device-desktop" }, h("figcaption", {}, "Desktop"), h("div", { class: "device-frame-scroll" }, desktop)),
    h("figure", { class: "device device-mobile" }, h("figcaption", {}, "Mobile (375 px)"), h("div", { class: "device-frame-scroll" }, mobile)));
}

function resultView(result) {
  return [
    h("p", { class: "subject-line" }, h("strong", {}, "Subject: "), h("span", { id: "preview-subject" }, result.subject)),
    result.source === "customer"
      ? h("p", { class: "alert alert-ok", id: "preview-source" }, "Rendered with this customer's own recommendations, prices and stock, as it would be sent now.")
      : h("p", { class: "alert alert-info", id: "preview-source" }, "Rendered with a sample from your catalogue."),
    result.would_skip ? h("p", { class: "alert alert-warn" }, "This step has nothing to send this customer right now: it would be skipped.") : null,
    result.note ? h("p", { class: "help" }, result.note) : null,
    frames(result),
    h("details", {}, h("summary", {}, "Plain-text version"), h("pre", { class: "text-version" }, result.text)),
  ];
}

async function stepPreview(view, route) {
  const sequences = await all("sequences");
  if (!sequences.length) {
    view.append(h("p", { class: "alert alert-info" }, "No sequence yet: create one under Sequences."));
    return;
  }
  const seqId = Number(route.query.sequence) || sequences[0].id;
  const form = h("form", { class: "form-grid", "aria-label": "What to preview", novalidate: true, id: "preview-form" },
    field({ label: "Sequence", name: "sequence", kind: "select", value: seqId, options: sequences.map((s) => [s.id, s.name]), attrs: { "data-skip": "" } }),
    field({ label: "Step", name: "step", kind: "select", options: [], attrs: { "data-skip": "" } }),
    field({ label: "Variant", name: "variant", kind: "select", options: [["", "The customer's own"]], attrs: { "data-skip": "" } }));
  const customer = picker({ label: "Customer", name: "customer_id", source: "customers", help: "A real customer: the preview uses their orders, recommendations and consent, exactly as a send would. None chosen: a sample.", onChange: () => render() });
  form.append(customer, h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Preview")));
  const output = h("div", { id: "preview-output" });
  const testResult = h("div", { "aria-live": "polite", id: "send-test-result" });
  const testForm = h("form", { class: "toolbar", "aria-label": "Send a test of this email", novalidate: true, id: "send-test-form" },
    field({ label: "Send this email to", name: "to", kind: "email", required: true, attrs: { autocomplete: "email" } }),
    h("button", { class: "btn", type: "submit" }, "Send test"));
  view.append(card("Choose", form), card("Preview", output), card("Send a test", h("p", { class: "muted" }, "The email above, sent now through your mailer, marked [Test]. Nothing is recorded for the customer."), testForm, testResult));

  let steps = [];
  const loadSteps = async (preferred) => {
    const detail = await get(`sequences/${form.elements.sequence.value}`);
    steps = detail.steps || [];
    const select = form.elements.step;
    fill(select, ...steps.map((s) => h("option", { value: s.id, selected: String(s.id) === String(preferred) }, `Step ${s.position}: ${humanize(s.kind)}`)));
    loadVariants();
  };
  const loadVariants = () => {
    const step = steps.find((s) => String(s.id) === form.elements.step.value);
    const select = form.elements.variant;
    fill(select, h("option", { value: "" }, "The customer's own"),
      ...((step && step.variants) || []).map((v) => h("option", { value: v.key }, `${v.key}${v.kind ? ` (${humanize(v.kind)})` : ""}`)));
  };
  const params = () => ({
    customer_id: customer.value()[0]?.id,
    variant: form.elements.variant.value || undefined,
  });
  const path = () => `sequences/${form.elements.sequence.value}/steps/${form.elements.step.value}`;
  let seq = 0;
  const render = async () => {
    if (!form.elements.step.value) { fill(output, h("p", { class: "empty" }, "This sequence has no step.")); return; }
    const mine = ++seq;
    fill(output, loading("Rendering"));
    try {
      const result = await get(`${path()}/preview`, params());
      if (mine !== seq) return;
      fill(output, ...resultView(result));
    } catch (err) {
      if (mine !== seq) return;
      fill(output, errorBox(err));
    }
  };
  form.elements.sequence.addEventListener("change", async () => { await loadSteps(); render(); });
  form.elements.step.addEventListener("change", () => { loadVariants(); render(); });
  form.elements.variant.addEventListener("change", render);
  form.addEventListener("submit", (e) => { e.preventDefault(); render(); });
  onSubmit(testForm, (v) => {
    const p = params();
    const body = { to: v.to };
    if (p.customer_id) body.customer_id = p.customer_id;
    if (p.variant) body.variant = p.variant;
    return post(`${path()}/send-test`, body);
  }, {
    done: (r) => {
      fill(testResult, r.ok
        ? h("p", { class: "alert alert-ok" }, `Sent “${r.subject}” to ${r.to} through ${transportName(r.transport)}${r.transport === "outbox" ? " (kept on this machine, not sent)" : ""}.`)
        : h("p", { class: "alert alert-error" }, `Not delivered through ${transportName(r.transport)}: ${r.error}`));
    },
    message: (r) => (r.ok ? "Test email sent." : "The test email failed."),
  });

  if (route.query.customer) {
    try {
      const page = await get("customers", { search: route.query.customer, limit: 1 });
      if (page.results?.[0]) customer.set([page.results[0]]);
    } catch { /* no customer: a sample */ }
  }
  await loadSteps(route.query.step);
  await render();
}

async function kindPreview(view) {
  view.append(h("p", { class: "alert alert-info" }, "This server does not preview sequence steps yet: here is each kind of email with a sample from your catalogue."));
  const form = h("form", { class: "toolbar", "aria-label": "Email kind" },
    field({ label: "Email kind", name: "kind", kind: "select", options: KINDS.map((k) => [k, humanize(k)]), value: "complements" }),
    h("button", { class: "btn btn-primary", type: "submit" }, "Preview"));
  const output = h("div", {});
  view.append(card("Choose", form), card("Preview", output));
  const render = async () => {
    fill(output, loading("Rendering"));
    try {
      const r = await post("emails/preview", { kind: form.elements.kind.value });
      fill(output, ...resultView({ ...r, source: "sample" }));
    } catch (err) {
      fill(output, errorBox(err));
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); render(); });
  form.elements.kind.addEventListener("change", render);
  await render();
}

export async function render(view, route) {
  view.append(h("h1", {}, "Email preview"),
    h("p", { class: "lede" }, "See exactly what a customer would get from any step: their recommendations, today's prices and stock, your branding, at desktop and phone widths."));
  if (await exists("sequences")) return stepPreview(view, route);
  return kindPreview(view);
}
