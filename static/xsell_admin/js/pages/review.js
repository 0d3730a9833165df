// Quarterly review: offers and testimonials not refreshed within the review period, offers the
// pruning flagged for converting below the threshold, and the testimonials themselves.

import { all, exists, get, patch, post } from "../api.js";
import { announce, busy, card, errorBox, field, fill, h, loading, showErrors, table, values } from "../dom.js";
import { date, humanize, number, percent } from "../format.js";

const EDIT_LINK = {
  bundle: (id) => `#/offers/bundles?edit=${id}`,
  incentive: (id) => `#/offers/incentives?edit=${id}`,
  testimonial: () => "#/review",
};
const API_PATH = { bundle: "bundles", incentive: "incentives", testimonial: "testimonials" };

export async function render(view) {
  view.append(h("h1", {}, "Review"),
    h("p", { class: "lede" }, "Offers and social proof go stale. Everything not refreshed within the review period is listed here: check it still holds (price, stock, wording), then mark it reviewed or change it."));
  const staleBody = h("div", {}, loading("Loading the review list"));
  const flaggedBody = h("div", {});
  const testimonialsBody = h("div", {});
  view.append(card("Not refreshed lately", staleBody), card("Flagged offers", flaggedBody), card("Testimonials", testimonialsBody));

  const loadStale = async () => {
    try {
      const review = await get("reports/review");
      fill(staleBody,
        h("p", { class: "muted" }, `Review period: ${review.review_after_days} days (items last changed before ${date(review.cutoff)}). Change it under Settings.`),
        table({
          caption: "Items to review",
          captionHidden: true,
          columns: [
            { label: "Item", render: (r) => h("a", { href: EDIT_LINK[r.type]?.(r.id) || "#/review" }, r.title) },
            { label: "Type", render: (r) => humanize(r.type) },
            { label: "Last changed", render: (r) => date(r.updated_at) },
            {
              label: "Action", render: (r) => h("button", {
                type: "button", class: "btn btn-small",
                "aria-label": `Mark ${r.title} as reviewed`,
                onclick: async (e) => {
                  try {
                    await busy(e.currentTarget, () => patch(`${API_PATH[r.type]}/${r.id}`, {}));
                    announce(`${r.title} marked as reviewed.`, { tone: "ok" });
                    loadStale();
                  } catch (err) {
                    announce(`Could not mark it reviewed: ${err.message}`, { tone: "error" });
                  }
                },
              }, "Mark reviewed"),
            },
          ],
          rows: review.items || [],
          empty: "Nothing is stale: every offer and testimonial was refreshed within the review period.",
        }));
    } catch (err) {
      fill(staleBody, errorBox(err));
    }
  };

  const loadFlagged = async () => {
    fill(flaggedBody, loading("Loading offers"));
    const rows = [];
    for (const [type, path] of [["bundle", "bundles"], ["incentive", "incentives"]]) {
      if (!(await exists(path))) continue;
      try {
        for (const o of await all(path)) if (o.status === "flagged" || o.status === "paused") rows.push({ ...o, type });
      } catch { /* shown as empty */ }
    }
    fill(flaggedBody,
      h("p", { class: "muted" }, "Offers converting below the threshold are flagged, then paused if they do not recover."),
      table({
        caption: "Flagged and paused offers", captionHidden: true,
        columns: [
          { label: "Offer", render: (r) => h("a", { href: EDIT_LINK[r.type](r.id) }, r.name) },
          { label: "Type", render: (r) => humanize(r.type) },
          { label: "Status", render: (r) => h("span", { class: `badge ${r.status === "paused" ? "badge-danger" : "badge-warn"}` }, humanize(r.status)) },
          { label: "Sends", num: true, render: (r) => number(r.sends) },
          { label: "Conversion", num: true, render: (r) => (r.sends ? percent((r.conversions || 0) / r.sends) : "—") },
        ],
        rows, empty: "No offer is flagged.",
      }));
  };

  const loadTestimonials = async () => {
    fill(testimonialsBody, loading("Loading testimonials"));
    try {
      const rows = await all("testimonials");
      const form = h("form", { class: "form-grid", "aria-label": "Add a testimonial" },
        field({ label: "Author", name: "author", required: true }),
        field({ label: "Rating (1-5)", name: "rating", kind: "number", value: 5, attrs: { min: 1, max: 5 } }),
        field({ label: "Quote", name: "body", kind: "textarea", required: true, wide: true }),
        h("div", { class: "actions wide" }, h("button", { class: "btn btn-primary", type: "submit" }, "Add testimonial")));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await busy(form.querySelector("button[type=submit]"), () => post("testimonials", { ...values(form), active: true }));
          announce("Testimonial added.", { tone: "ok" });
          loadTestimonials();
        } catch (err) {
          showErrors(form, err);
        }
      });
      fill(testimonialsBody,
        table({
          caption: "Testimonials shown in emails", captionHidden: true,
          columns: [
            { label: "Author", key: "author" },
            { label: "Quote", render: (r) => r.body },
            { label: "Rating", num: true, render: (r) => (r.rating ? `${r.rating}/5` : "—") },
            { label: "Status", render: (r) => (r.needs_review ? h("span", { class: "badge badge-warn" }, "Needs review") : r.active ? h("span", { class: "badge badge-ok" }, "Shown") : h("span", { class: "badge" }, "Hidden")) },
            {
              label: "Action", render: (r) => h("button", {
                type: "button", class: "btn btn-small", "aria-label": `${r.active ? "Hide" : "Show"} the testimonial of ${r.author}`,
                onclick: async (e) => {
                  try {
                    await busy(e.currentTarget, () => patch(`testimonials/${r.id}`, { active: !r.active }));
                    loadTestimonials();
                  } catch (err) { announce(err.message, { tone: "error" }); }
                },
              }, r.active ? "Hide" : "Show"),
            },
          ],
          rows, empty: "No testimonials yet. Real words from real customers, shown in offer emails.",
        }),
        h("h3", {}, "Add a testimonial"), form);
    } catch (err) {
      fill(testimonialsBody, errorBox(err));
    }
  };

  await Promise.all([loadStale(), loadFlagged(), loadTestimonials()]);
}
