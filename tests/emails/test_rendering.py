"""render(kind, context): every kind with real demo data, merchant copy and branding, the
compiled-template cache, typed errors (bad MJML names the template, Gmail's clip size)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Engine

from emails import models as email_models
from emails import rendering
from emails.context import display_context, incentive_snapshot, money, product_snapshot, when
from emails.exceptions import ContextInvalid, EmailTooLarge, TemplateInvalid, UnknownKind
from emails.kinds import DEFAULT_COPY, KINDS, Kind
from emails.look import look_build
from emails.rendering import GMAIL_CLIP_BYTES, render
from emails.selectors import store_look
from emails.services import store_email_settings_set, template_copy_set
from xsell_plugin.catalog.models import Product
from xsell_plugin.demo.services import demo_store_load
from xsell_plugin.stores.models import Store

URLS = {"unsubscribe_url": "https://app.xsell.test/u/abc", "preferences_url": "https://app.xsell.test/p/abc"}


def _ctx(kind, snapshot, look, **extra):
    return {"look": look, "store": None,
            **display_context(kind, snapshot, look=look, first_name=extra.pop("first_name", "Ada"),
                              **URLS), **extra}


def test_every_kind_renders_with_real_demo_data(db):
    store = demo_store_load(limit_households=2).store
    Store.objects.filter(pk=store.pk).update(postal_address="123 Market Street\nCincinnati, OH 45202")
    store.refresh_from_db()
    email_models.Testimonial.objects.create(store=store, author="Dana, Ohio", body="Fresh every single time.",
                               rating=5)
    products = list(Product.objects.for_store(store).prefetch_related("variants").order_by("pk")[:6])
    snaps = [product_snapshot(p, store=store) for p in products]
    look = store_look(store=store)
    expiry = datetime(2018, 2, 1, 4, 59, tzinfo=UTC)
    snapshots = {
        Kind.VALUE: {"product": snaps[0], "tips": [{"title": "Keep it cool", "body": "Below 40F."}]},
        Kind.CHECKIN: {"product": snaps[0]},
        Kind.COMPLEMENTS: {"products": snaps[1:5]},
        Kind.UPGRADE: {"original": snaps[0], "upgrade": {**snaps[1], "price": "99.00"}},
        Kind.BUNDLE: {"bundle": {"items": snaps[2:5], "price": "1.00"}},
        Kind.INCENTIVE: {"incentive": incentive_snapshot(code="CJ-10", expires_at=expiry),
                         "products": snaps[:2]},
        Kind.FOLLOWUP: {"products": snaps[4:6]},
        Kind.FEEDBACK: {},
    }
    for kind in KINDS:
        rendered = render(kind, _ctx(kind, snapshots[kind], look))
        assert rendered.subject and "{" not in rendered.subject, kind
        assert len(rendered.html.encode()) < GMAIL_CLIP_BYTES
        assert 'name="color-scheme" content="light dark"' in rendered.html
        assert "Cincinnati, OH 45202" in rendered.html and "Cincinnati, OH 45202" in rendered.text
        assert URLS["unsubscribe_url"] in rendered.html and URLS["preferences_url"] in rendered.text
        assert "<" not in rendered.text, kind  # its own template, no markup
        if kind in (Kind.COMPLEMENTS, Kind.FOLLOWUP):
            for snap in snapshots[kind]["products"]:
                assert snap["title"].replace("&", "&amp;") in rendered.html
                assert snap["title"] in rendered.text
                assert f'alt="{snap["title"]}"' in rendered.html or not snap["image_url"]
        if kind in (Kind.COMPLEMENTS, Kind.UPGRADE, Kind.BUNDLE, Kind.FOLLOWUP, Kind.INCENTIVE):
            assert "Fresh every single time." in rendered.html
        if kind == Kind.INCENTIVE:  # the real expiry, in the store's zone (New York)
            assert "Valid until January 31, 2018 at 11:59 PM EST." in rendered.text
        if kind == Kind.BUNDLE:
            total = sum(float(s["price"]) for s in snaps[2:5])
            assert f"Bought separately: {money(total, 'USD')}" in rendered.text
            assert f"You save: {money(total - 1, 'USD')}" in rendered.text


def _look(**store_fields):
    store = Store(pk=9, name="Acme & Co", domain="acme.example", currency="EUR",
                  timezone="Europe/Paris", postal_address="1 Rue de la Paix\n75002 Paris",
                  **store_fields)
    return store, look_build(store=store)


def test_recipient_values_are_escaped_and_the_text_is_not():
    _, look = _look()
    snap = {"products": [{"id": "1", "title": 'Pots & <Pans> "XL"', "url": "https://acme.example/p/1?a=1&b=2",
                          "price": "10", "image_url": ""},
                         {"id": "2", "title": "Lid", "url": "https://acme.example/p/2", "price": "3.5",
                          "image_url": ""}]}
    rendered = render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, snap, look, first_name="<b>Bo</b>"))
    assert "Pots &amp; &lt;Pans&gt; &quot;XL&quot;" in rendered.html and "<Pans>" not in rendered.html
    assert "href=\"https://acme.example/p/1?a=1&amp;b=2\"" in rendered.html
    assert "Hi &lt;b&gt;Bo&lt;/b&gt;," in rendered.html
    assert 'Pots & <Pans> "XL" - \u20ac10.00' in rendered.text and "Hi <b>Bo</b>," in rendered.text
    assert "Acme & Co" in rendered.text and "Acme &amp; Co" in rendered.html


def test_compiled_once_per_shape_and_look(monkeypatch):
    rendering.render_cache_clear()
    _, look = _look()
    calls = []
    real = rendering._compile
    monkeypatch.setattr(rendering, "_compile", lambda *a: calls.append(a[0]) or real(*a))
    two = {"products": [{"id": str(n), "title": f"P{n}", "url": f"https://acme.example/{n}",
                         "price": "1"} for n in range(2)]}
    three = {"products": [*two["products"], {"id": "9", "title": "P9", "url": "https://acme.example/9",
                                             "price": "2"}]}
    first = render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, two, look, first_name="Ada"))
    second = render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, two, look, first_name="Grace"))
    assert len(calls) == 1  # same shape: filled, not compiled
    assert "Hi Grace," in second.text and "Hi Ada," in first.text
    render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, three, look))
    render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, two, look, first_name=""))
    assert len(calls) == 3  # three cards, and an empty name, are other shapes
    assert "Hi there," in render(Kind.COMPLEMENTS, _ctx(Kind.COMPLEMENTS, two, look, first_name="")).text


def test_merchant_copy_and_branding_apply_and_invalidate_the_cache(store):
    template_copy_set(store=store, kind=Kind.FEEDBACK, subject="{first_name}, rate {store_name}!",
                      heading="Two seconds?")
    store_email_settings_set(store=store, logo_url="https://cdn.first.example/logo.png",
                             logo_alt="First Shop logo", primary_color="#112233")
    look = store_look(store=store)
    rendered = render(Kind.FEEDBACK, _ctx(Kind.FEEDBACK, {}, look))
    assert rendered.subject == "Ada, rate First Shop!"
    assert "Two seconds?" in rendered.html and "Two seconds?" in rendered.text
    assert DEFAULT_COPY[Kind.FEEDBACK].preheader.replace("{store_name}", "First Shop") in rendered.html
    assert 'src="https://cdn.first.example/logo.png"' in rendered.html
    assert 'alt="First Shop logo"' in rendered.html and "#112233" in rendered.html
    template_copy_set(store=store, kind=Kind.FEEDBACK, subject="Changed")
    assert render(Kind.FEEDBACK, _ctx(Kind.FEEDBACK, {}, store_look(store=store))).subject == "Changed"


def test_merchant_copy_cannot_reach_template_syntax_or_markers(store):
    template_copy_set(store=store, kind=Kind.VALUE, heading="{{ unsubscribe_url }} {% now 'Y' %} {0}",
                      body="xq00000000000z <script>alert(1)</script>")
    rendered = render(Kind.VALUE, _ctx(Kind.VALUE, {}, store_look(store=store)))
    assert "{{ unsubscribe_url }} {% now &#x27;Y&#x27; %} {0}" in rendered.html
    assert "&lt;script&gt;" in rendered.html and "<script>alert" not in rendered.html


def test_unknown_kind_and_missing_parts_are_typed_errors():
    _, look = _look()
    with pytest.raises(UnknownKind):
        render("spam", {"look": look, **URLS})
    with pytest.raises(ContextInvalid) as err:
        render(Kind.COMPLEMENTS, {"look": look, "products": [{"title": "x"}], **URLS})
    assert err.value.code == "email_context_invalid"
    with pytest.raises(ContextInvalid):  # no footer links, no email
        render(Kind.FEEDBACK, {"look": look, "nps": [{"score": n, "url": "x"} for n in range(11)]})
    with pytest.raises(ContextInvalid):  # an incentive without its real expiry is refused
        display_context(Kind.INCENTIVE, {"incentive": {"code": "X"}}, look=look, **URLS)
    with pytest.raises(ContextInvalid):
        incentive_snapshot(code="X", expires_at=datetime(2030, 1, 1))  # naive: which zone?
    with pytest.raises(ContextInvalid):  # a bundle that saves nothing is not a bundle
        display_context(Kind.BUNDLE, {"bundle": {"items": [{"title": "a", "url": "https://a", "price": "1"},
                                                           {"title": "b", "url": "https://b", "price": "1"}],
                                                 "price": "2"}}, look=look, **URLS)


def test_invalid_mjml_names_the_template(tmp_path, monkeypatch):
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "feedback.mjml").write_text("<mjml><mj-body><mj-section></mj-body>")
    (tmp_path / "emails" / "feedback.txt").write_text("x")
    (tmp_path / "emails" / "feedback.subject.txt").write_text("x")
    monkeypatch.setattr(rendering, "_HTML_ENGINE", Engine(dirs=[str(tmp_path)], autoescape=True))
    rendering.render_cache_clear()
    _, look = _look()
    with pytest.raises(TemplateInvalid) as err:
        render(Kind.FEEDBACK, _ctx(Kind.FEEDBACK, {}, look))
    assert err.value.extra["template"] == "emails/feedback.mjml"
    assert "emails/feedback.mjml" in err.value.message
    rendering.render_cache_clear()


def test_over_gmail_clip_size_is_a_typed_error():
    _, look = _look()
    tips = [{"title": f"Tip {n}", "body": "lorem ipsum dolor " * 400} for n in range(20)]
    with pytest.raises(EmailTooLarge) as err:
        render(Kind.VALUE, _ctx(Kind.VALUE, {"tips": tips}, look))
    assert err.value.extra["bytes"] > GMAIL_CLIP_BYTES


def test_money_and_dates():
    assert money("1234.5", "USD") == "$1,234.50"
    assert money("9.999", "EUR") == "\u20ac10.00"
    assert money("1200", "JPY") == "\u00a51,200"
    assert money("12", "PLN") == "PLN\u00a012.00"
    assert money("-3", "GBP") == "-\u00a33.00"
    moment = datetime(2026, 3, 8, 6, 30, tzinfo=UTC) + timedelta(hours=1)
    assert when(moment, "America/New_York") == "March 8, 2026 at 3:30 AM EDT"
    assert when(moment.isoformat(), "Asia/Tokyo") == "March 8, 2026 at 4:30 PM JST"
