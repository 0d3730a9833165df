"""The embedded admin in a real browser, against the running app with the demo store: log in,
build a bundle (live total and saving, as the API quotes it), change an incentive (margin
preview), preview a step for a real customer at desktop and mobile widths and send it as a test,
toggle a sequence, read the overview chart; an API field error beside its field; the page without
App Bridge and embedded in Shopify with it."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from tests.e2e.conftest import MOBILE, SHOPIFY_API_KEY, api, goto, shoot

pytestmark = pytest.mark.slow

ROUTES = ["overview", "sequences", "offers/bundles", "offers/incentives", "offers/recommendations",
          "previews", "segments", "experiments", "settings", "review"]


def money_value(text: str) -> Decimal:
    """'$1,234.50' -> Decimal('1234.50')."""
    return Decimal(re.sub(r"[^\d.\-]", "", text))


def test_login_link_opens_the_admin(context, app):
    page = context.new_page()
    response = page.goto(app.login_url())
    assert response.ok and page.url.startswith(app.url("/app/"))
    page.wait_for_selector("main[data-rendered='#/overview']")
    assert page.locator("#store-name").inner_text() == "Complete Journey Grocer (demo)"
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview") \
        .get_attribute("aria-current") == "page"
    shoot(page, app, "login-overview")

    # A forged link does not open anything.
    other = context.browser.new_context()
    try:
        forged = other.new_page()
        answer = forged.goto(app.url("/app/?login=forged"))
        assert answer.status == 404 and "login link" in forged.content()
        assert other.new_page().goto(app.url("/app/")).status == 401
    finally:
        other.close()


def test_overview_leads_with_incremental_revenue_and_charts_real_data(page, app):
    goto(page, app, "overview")
    stats = page.locator(".stats-lead .stat-label").all_inner_texts()
    assert stats[0].lower() == "incremental revenue" and stats[1].lower() == "attributed revenue"
    canvas = page.locator("canvas").first
    canvas.wait_for()
    data = page.evaluate("""() => {
        const chart = Chart.getChart(document.querySelector('canvas'));
        return {labels: chart.data.labels,
                series: chart.data.datasets.map(d => ({label: d.label, data: d.data}))};
    }""")
    revenue = next(s for s in data["series"] if s["label"] == "Store revenue")
    assert len(data["labels"]) >= 4 and len(revenue["data"]) == len(data["labels"])
    assert sum(revenue["data"]) > 0
    # The chart shows what the API reports.
    points = api(page, app, "GET", "reports/timeseries?metric=revenue&interval=week")["points"]
    assert round(sum(revenue["data"]), 2) == round(sum(p["value"] for p in points), 2)
    # Another interval redraws it.
    page.get_by_label("Chart interval").select_option("month")
    page.wait_for_function("() => Chart.getChart(document.querySelector('canvas'))?.data.labels.length <= 8")
    shoot(page, app, "overview")


def test_bundle_builder_shows_the_total_and_saving_live(page, app):
    goto(page, app, "offers/bundles")
    form = page.locator("#bundle-form")
    form.get_by_role("textbox", name="Name", exact=True).fill("Breakfast set")
    core = form.get_by_role("searchbox", name="Core product")
    core.fill("bread")
    form.locator("[data-field='core_product_id'] .picker-results button").first.click()
    addons = form.get_by_role("searchbox", name="Add-ons")
    for term in ("butter", "jam"):
        addons.fill(term)
        form.locator("[data-field='addon_product_ids'] .picker-results button").first.click()
    form.get_by_label("Percent off").fill("10")
    total = page.locator("#quote-total")
    total.wait_for()

    def shown():
        return {k: Decimal(page.get_attribute(f"#quote-{k}", "data-value"))
                for k in ("total", "price", "saving")}

    def showing(q: dict) -> None:
        """Wait until the builder shows this quote (it re-prices 250 ms after the last change)."""
        page.wait_for_function(
            "([t, p, s]) => { const v = (k) => document.querySelector('#quote-' + k)?.dataset.value;"
            " return v('total') === t && v('price') === p && v('saving') === s; }",
            arg=[q["total"], q["discounted_total"], q["saving"]])

    core_id = int(form.locator("[data-field='core_product_id'] .chosen li").first.get_attribute("data-id"))
    addon_ids = [int(x) for x in form.locator("[data-field='addon_product_ids'] .chosen li")
                 .evaluate_all("els => els.map(e => e.dataset.id)")]
    assert len(addon_ids) == 2
    body = {"name": "Breakfast set", "kind": "fixed", "percent_off": "10", "core_product_id": core_id,
            "addon_product_ids": addon_ids}
    quote = api(page, app, "POST", "bundles/quote", body)
    showing(quote)
    assert shown() == {"total": Decimal(quote["total"]), "price": Decimal(quote["discounted_total"]),
                       "saving": Decimal(quote["saving"])}
    assert money_value(total.inner_text()) == Decimal(quote["total"])
    saving_percent = re.search(r"\(([\d.]+)%\)", page.locator("#quote-saving").inner_text()).group(1)
    assert Decimal(saving_percent) == Decimal(quote["saving_percent"])

    # A deeper discount updates the saving as it is typed.
    form.get_by_label("Percent off").fill("20")
    deeper = api(page, app, "POST", "bundles/quote", {**body, "percent_off": "20"})
    showing(deeper)
    assert Decimal(deeper["saving"]) > Decimal(quote["saving"])
    shoot(page, app, "bundle-builder")

    form.get_by_label("Percent off").fill("10")
    showing(quote)
    form.get_by_role("button", name="Create bundle").click()
    page.wait_for_url(re.compile(r"#/offers/bundles\?edit=\d+"))
    page.get_by_role("link", name="Breakfast set").wait_for()
    saved = [b for b in api(page, app, "GET", "bundles")["results"] if b["name"] == "Breakfast set"]
    assert len(saved) == 1 and saved[0]["core_product_id"] == core_id
    assert sorted(saved[0]["addon_product_ids"]) == sorted(addon_ids)
    assert Decimal(saved[0]["quote"]["saving"]) == Decimal(quote["saving"])


def test_an_api_field_error_shows_beside_its_field(page, app):
    goto(page, app, "offers/bundles")
    form = page.locator("#bundle-form")
    form.get_by_role("searchbox", name="Core product").fill("bread")
    form.locator("[data-field='core_product_id'] .picker-results button").first.click()
    form.get_by_role("searchbox", name="Add-ons").fill("milk")
    form.locator("[data-field='addon_product_ids'] .picker-results button").first.click()
    percent = form.get_by_label("Percent off")
    percent.fill("150")
    error = form.locator("[data-field='percent_off'] .field-error")
    error.wait_for(state="visible")
    assert "100" in error.inner_text()  # DRF: "less than or equal to 100"
    assert percent.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in percent.get_attribute("aria-describedby").split()
    shoot(page, app, "field-error")
    percent.fill("15")
    error.wait_for(state="hidden")
    assert percent.get_attribute("aria-invalid") is None

    # A service's error (extra.fields from sequences.services) lands on its field too.
    goto(page, app, "sequences")
    page.locator("table a").first.click()
    page.wait_for_selector(".step > details > summary")
    page.locator(".step > details > summary").first.click()
    step = page.locator(".step > details[open] > form")
    step.get_by_label("Send from").select_option("9")
    step.get_by_label("Send until").select_option("")
    step.get_by_role("button", name="Save step").click()
    until = step.get_by_label("Send until")
    message = step.locator("[data-field='window_end_hour'] .field-error")
    message.wait_for(state="visible")
    assert "both" in message.inner_text()
    assert until.get_attribute("aria-invalid") == "true"


def test_changing_an_incentive_shows_its_margin_preview(page, app):
    goto(page, app, "offers/incentives")
    page.get_by_role("link", name="10% thank-you").click()
    page.wait_for_url(re.compile(r"edit=\d+"))
    form = page.locator("#incentive-form")
    summary = page.locator("#margin-summary")
    summary.wait_for()

    def preview(percent: str) -> dict:
        return api(page, app, "POST", "incentives/preview",
                   {"kind": "percent_off", "percent_off": percent, "limit": 8})

    def expected(p: dict) -> str:
        if p["breaking"]:
            return f"{p['breaking']} of {p['count']} products"
        return f"All {p['count']} products keep"

    base = preview("10")
    assert expected(base) in summary.inner_text()
    deep = preview("60")
    assert deep["breaking"] > base["breaking"]
    form.get_by_label("Percent off").fill("60")
    page.locator("#margin-summary").filter(has_text=expected(deep)).wait_for()
    assert page.locator("#margin-preview .badge-danger").count() == deep["breaking"]
    shoot(page, app, "incentive-margin")
    form.get_by_label("Percent off").fill("12")
    page.locator("#margin-summary").filter(has_text=expected(preview("12"))).wait_for()
    form.get_by_role("button", name="Save incentive").click()
    page.locator("#status").filter(has_text="saved").wait_for()
    saved = [i for i in api(page, app, "GET", "incentives")["results"] if i["name"] == "10% thank-you"]
    assert Decimal(saved[0]["percent_off"]) == Decimal("12")


def _sequence(page, app, key: str) -> dict:
    rows = api(page, app, "GET", "sequences?limit=100")["results"]
    return next(s for s in rows if s["key"] == key)


def test_email_preview_of_a_step_for_a_real_customer(page, app, smtp):
    seq = _sequence(page, app, "post-purchase")
    detail = api(page, app, "GET", f"sequences/{seq['id']}")
    step = next(s for s in detail["steps"] if s["kind"] == "complements")
    goto(page, app, f"previews?sequence={seq['id']}&step={step['id']}")
    page.locator("#preview-subject").wait_for()
    assert page.locator("#preview-source").inner_text().startswith("Rendered with a sample")
    customer = api(page, app, "GET", "customers?limit=1")["results"][0]
    page.get_by_role("searchbox", name="Customer").fill(customer["email"])
    page.locator("[data-field='customer_id'] .picker-results button").first.click()
    page.locator("#preview-source").filter(has_text="this customer's own").wait_for()
    expected = api(page, app, "GET",
                   f"sequences/{seq['id']}/steps/{step['id']}/preview?customer_id={customer['id']}")
    assert page.locator("#preview-subject").inner_text() == expected["subject"]
    desktop, mobile = page.locator("#preview-desktop"), page.locator("#preview-mobile")
    assert desktop.bounding_box()["width"] >= 600
    assert mobile.bounding_box()["width"] == 375
    assert mobile.get_attribute("sandbox") is not None and desktop.get_attribute("sandbox") is not None
    for frame in ("#preview-desktop", "#preview-mobile"):
        body = page.frame_locator(frame).locator("body")
        assert "Complete Journey Grocer" in body.inner_text()
    desktop.scroll_into_view_if_needed()
    page.screenshot(path=str(app.artifacts / "preview-frames-desktop.png"))
    page.set_viewport_size(MOBILE)
    mobile.scroll_into_view_if_needed()
    page.screenshot(path=str(app.artifacts / "preview-frames-mobile.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, app, "preview")


def delivered(app, smtp, to: str, shown: str) -> list[str]:
    """The subjects the connected SMTP server received for ``to``: a test send to the merchant
    leaves through the store's mailer, even from the demo store (whose customer emails stay in
    the local outbox)."""
    assert "through SMTP" in shown, shown
    assert not json.loads(app.python("tests.e2e.seed", "outbox", to))
    return [m["Subject"] for m in smtp.wait_for(lambda m: m["To"] == to)]


def test_send_test_emails_through_the_store_mailer(page, app, smtp):
    # Point the store's mailer at the loopback SMTP server from the settings page.
    goto(page, app, "settings")
    mailer = page.get_by_role("form", name="Mailer")
    mailer.get_by_label("Send through").select_option("smtp")
    mailer.get_by_label("From address").fill("hello@grocer.example")
    mailer.get_by_label("From name").fill("Complete Journey Grocer")
    mailer.get_by_role("button", name="Save mailer").click()
    host_error = mailer.locator("[data-field='smtp_host'] .field-error")
    host_error.wait_for(state="visible")  # the service refuses SMTP without a host, beside the field
    assert "host" in host_error.inner_text()
    mailer.get_by_label("Host").fill("127.0.0.1")
    mailer.get_by_label("Port").fill(str(smtp.port))
    mailer.get_by_label("Security").select_option("none")
    mailer.get_by_role("button", name="Save mailer").click()
    page.locator("#mailer-status").filter(has_text="SMTP").wait_for()
    test = page.get_by_role("form", name="Send a test email")
    test.get_by_label("Send a test email to").fill("merchant@grocer.example")
    test.get_by_role("button", name="Send test").click()
    result = page.locator("#mailer-test-result .alert-ok")
    result.wait_for()
    first = delivered(app, smtp, "merchant@grocer.example", result.inner_text())
    assert first[0].startswith("[Test]")
    shoot(page, app, "settings-mailer")

    # The preview page sends the very email it shows.
    seq = _sequence(page, app, "post-purchase")
    step = api(page, app, "GET", f"sequences/{seq['id']}")["steps"][0]
    goto(page, app, f"previews?sequence={seq['id']}&step={step['id']}")
    subject = page.locator("#preview-subject").inner_text()
    form = page.locator("#send-test-form")
    form.get_by_label("Send this email to").fill("not-an-address")
    form.get_by_role("button", name="Send test").click()
    bad = form.locator("[data-field='to'] .field-error")
    bad.wait_for(state="visible")
    form.get_by_label("Send this email to").fill("owner@grocer.example")
    form.get_by_role("button", name="Send test").click()
    result = page.locator("#send-test-result .alert-ok")
    result.wait_for()
    sent = delivered(app, smtp, "owner@grocer.example", result.inner_text())
    assert sent[0] == f"[Test] {subject}"
    shoot(page, app, "preview-send-test")


def test_caps_quiet_hours_and_consent_policy(page, app):
    goto(page, app, "settings")
    form = page.get_by_role("form", name="Sending policy")
    form.get_by_label("Emails per customer per window").fill("2")
    form.get_by_label("Quiet from").select_option("20")
    form.get_by_label("Quiet until").select_option("9")
    form.get_by_label("Soft opt-in: email past buyers whose consent is unknown").check()
    form.get_by_label("Your soft opt-in policy (a link or the text)").fill("")
    form.get_by_role("button", name="Save policy").click()
    policy_error = form.locator("[data-field='soft_opt_in_policy'] .field-error")
    policy_error.wait_for(state="visible")  # soft opt-in needs the store's documented policy
    saved = api(page, app, "GET", "settings/guardrails")
    assert (saved["max_per_window"], saved["soft_opt_in"]) == (3, False)  # nothing was saved
    form.get_by_label("Your soft opt-in policy (a link or the text)").fill("https://grocer.example/privacy")
    form.get_by_role("button", name="Save policy").click()
    page.locator("#status").filter(has_text="Sending policy saved").wait_for()
    saved = api(page, app, "GET", "settings/guardrails")
    assert [saved[k] for k in ("max_per_window", "quiet_start_hour", "quiet_end_hour", "soft_opt_in")] \
        == [2, 20, 9, True]
    page.reload()
    page.wait_for_selector("main[data-rendered='#/settings']")
    form = page.get_by_role("form", name="Sending policy")
    assert form.get_by_label("Quiet from").input_value() == "20"
    shoot(page, app, "settings-policy")


def test_the_postal_address_is_saved_and_shown_in_the_email_footer(page, app):
    goto(page, app, "settings")
    form = page.get_by_role("form", name="Sender and postal address")
    address = form.get_by_label("Postal address (shown in every email's footer)")
    assert address.is_enabled()
    address.fill("400 Vine Street\nCincinnati, OH 45202")
    form.get_by_role("button", name="Save address").click()
    page.locator("#status").filter(has_text="Address saved").wait_for()
    assert api(page, app, "GET", "store")["postal_address"].startswith("400 Vine Street")
    preview = api(page, app, "POST", "emails/preview", {"kind": "value"})
    assert "400 Vine Street" in preview["html"]
    page.reload()
    page.wait_for_selector("main[data-rendered='#/settings']")
    form = page.get_by_role("form", name="Sender and postal address")
    assert "Cincinnati" in form.get_by_label("Postal address (shown in every email's footer)").input_value()
    shoot(page, app, "settings-address")


def test_toggling_a_sequence_is_saved(page, app):
    goto(page, app, "sequences")
    switch = page.get_by_role("button", name="Win-back: active")
    assert switch.get_attribute("aria-pressed") == "true"
    switch.click()
    page.locator("[aria-label='Win-back: active'][aria-pressed='false']").wait_for()
    assert _sequence(page, app, "win-back")["status"] == "paused"
    page.reload()
    page.wait_for_selector("main[data-rendered='#/sequences']")
    switch = page.get_by_role("button", name="Win-back: active")
    assert switch.get_attribute("aria-pressed") == "false" and "Paused" in switch.inner_text()
    shoot(page, app, "sequences")
    switch.focus()  # and back on, from the keyboard
    page.keyboard.press("Enter")
    page.locator("[aria-label='Win-back: active'][aria-pressed='true']").wait_for()
    assert _sequence(page, app, "win-back")["status"] == "active"


def test_editing_a_steps_delay_condition_and_variants(page, app):
    seq = _sequence(page, app, "first-purchase")
    goto(page, app, f"sequences/{seq['id']}")
    page.locator(".step > details > summary").nth(1).click()
    step = page.locator(".step > details[open] > form")
    step.get_by_label("Wait after the previous step").fill("36")
    step.get_by_label("Unit").select_option("hours")
    step.get_by_label("Ordered since the trigger").select_option("no")
    step.get_by_role("button", name="Add a variant").click()
    step.get_by_role("button", name="Add a variant").click()
    step.get_by_label("Variant 2 email kind").select_option("bundle")
    step.get_by_label("Variant 2 weight").fill("3")
    step.get_by_role("button", name="Save step").click()
    page.locator("#status").filter(has_text="Step 2 saved").wait_for()
    saved = api(page, app, "GET", f"sequences/{seq['id']}")["steps"][1]
    assert saved["delay_minutes"] == 36 * 60
    assert saved["conditions"] == {"bought_since": False}
    assert saved["variants"] == [{"key": "a", "weight": 1}, {"key": "b", "weight": 3, "kind": "bundle"}]
    summary = page.locator(".step > details[open] > summary").inner_text()
    assert "1 day 12 hours" in summary and "no order since" in summary and "2 variants" in summary

    # Add a step at the end, move it up, delete it.
    count = len(api(page, app, "GET", f"sequences/{seq['id']}")["steps"])
    add = page.get_by_role("form", name="Add a step")
    add.get_by_label("Email").select_option("upgrade")
    add.get_by_label("Wait (days)").fill("3")
    add.get_by_role("button", name="Add step").click()
    page.locator(f".step[data-position='{count + 1}'] details[open]").wait_for()
    page.get_by_role("button", name=f"Move step {count + 1} up").click()
    page.locator(f".step[data-position='{count}'] details[open]").wait_for()
    kinds = [s["kind"] for s in api(page, app, "GET", f"sequences/{seq['id']}")["steps"]]
    assert kinds[count - 1] == "upgrade" and len(kinds) == count + 1
    shoot(page, app, "sequence-steps")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete step {count}").click()
    page.locator("#status").filter(has_text="deleted").wait_for()
    assert len(api(page, app, "GET", f"sequences/{seq['id']}")["steps"]) == count


def test_every_page_renders_with_labelled_controls_and_fits_a_phone(page, app):
    """Each route renders without a script error, every form control has an accessible name,
    and nothing is wider than a 375 px screen."""
    for route in ROUTES:
        goto(page, app, route)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
                'main input, main select, main textarea, main button')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 120))""")
        assert not unlabelled, (route, unlabelled)
        assert page.locator("main h1").count() == 1, route
        if route in ("segments", "experiments", "review", "offers/recommendations"):
            shoot(page, app, route.replace("/", "-"))


def test_keyboard_navigation_moves_focus_to_the_page_heading(page, app):
    goto(page, app, "overview")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.locator("#nav a[href='#/segments']").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-rendered='#/segments']")
    focused = page.evaluate("() => document.activeElement.tagName + ':' + document.activeElement.textContent")
    assert focused == "H1:Segments"

    # On a phone the navigation is behind a Menu button (a disclosure), closed again by Escape.
    page.set_viewport_size(MOBILE)
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    assert menu.get_attribute("aria-expanded") == "false" and not nav.is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true" and nav.is_visible()
    page.screenshot(path=str(app.artifacts / "navigation-mobile.png"))
    page.keyboard.press("Escape")
    assert menu.get_attribute("aria-expanded") == "false" and not nav.is_visible()
    menu.click()
    nav.get_by_role("link", name="Review", exact=True).click()
    page.wait_for_selector("main[data-rendered='#/review']")
    assert not nav.is_visible()


def test_the_page_works_without_app_bridge(page, app):
    requests: list = []
    page.on("request", lambda r: requests.append(r))
    page.reload()
    page.wait_for_selector("main[data-rendered='#/overview']")
    page.locator("canvas").first.wait_for()
    html = page.content()
    assert "app-bridge.js" not in html and 'name="shopify-api-key"' not in html
    assert page.evaluate("() => typeof window.shopify") == "undefined"
    calls = [r for r in requests if "/api/v1/" in r.url]
    assert calls and all("authorization" not in r.headers for r in calls)
    assert not [r for r in requests if "cdn.shopify.com" in r.url]


def test_embedded_in_shopify_loads_app_bridge_first_and_sends_its_token(page, app):
    """Opened by Shopify's admin (?shop=&host=): App Bridge from Shopify's CDN is the first script
    and every API call carries its ID token; the page may be framed by that shop's admin only."""
    token = "e2e.session.token"
    stub = (f"window.shopify = {{ idToken: async () => '{token}',"
            f" config: {{ apiKey: '{SHOPIFY_API_KEY}' }} }};")
    page.context.unroute("https://cdn.shopify.com/**")
    page.context.route("https://cdn.shopify.com/**",
                       lambda route: route.fulfill(status=200, content_type="text/javascript", body=stub))
    shop = "e2e-shop.myshopify.com"
    seen: list = []
    page.on("request", lambda r: seen.append(r) if "/api/v1/" in r.url else None)
    response = page.goto(app.url(f"/app/?shop={shop}&host=ZTJlLXNob3AvYWRtaW4#/overview"))
    assert response.headers["content-security-policy"] == (
        f"frame-ancestors https://{shop} https://admin.shopify.com")
    assert "x-frame-options" not in response.headers
    page.wait_for_selector("main[data-rendered='#/overview']")
    first_script = page.evaluate("() => document.querySelector('script').getAttribute('src')")
    assert first_script == "https://cdn.shopify.com/shopifycloud/app-bridge.js"
    assert page.get_attribute('meta[name="shopify-api-key"]', "content") == SHOPIFY_API_KEY
    assert seen and all(r.headers.get("authorization") == f"Bearer {token}" for r in seen)
    shoot(page, app, "embedded")
