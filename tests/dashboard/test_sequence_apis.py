"""Sequences and steps through the admin API: create / edit / pause round trips, step ordering,
field-named validation errors, what happens to waiting enrolments when a step goes, previews of
a step for a real customer, test sends that record nothing, and another store's 404s."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emails.models import MailerAccount, OutboundEmail, OutboxMessage
from emails.services import mailer_account_set
from tests.emails import helpers as email_helpers
from tests.recommendations.conftest import customer, order, product
from xsell_plugin.experiments.assignment import HOLDOUT
from xsell_plugin.experiments.models import SequenceAssignment
from xsell_plugin.offers.models import Incentive, IssuedCode
from xsell_plugin.sequences.models import Enrollment, ScheduledSend, Sequence, Step
from xsell_plugin.sequences.selectors import policy_for
from xsell_plugin.sequences.services import sequence_create, step_schedule
from xsell_plugin.tracking.models import Click, TrackedLink

pytestmark = pytest.mark.django_db
JSON = "application/json"
smtp_server, mailbox = email_helpers.smtp_server, email_helpers.mailbox  # a loopback SMTP server

NEW_SEQUENCE = {
    "key": "post-purchase-tents",
    "name": "Tents: what goes with them",
    "trigger": "product_purchase",
    "trigger_config": {"product_types": ["Tent"]},
    "steps": [
        {"kind": "value", "delay_minutes": 1440, "window_start_hour": 9, "window_end_hour": 19},
        {"kind": "complements", "delay_minutes": 2880, "conditions": {"bought_since": False},
         "variants": [{"key": "a", "weight": 3}, {"key": "b", "weight": 1, "kind": "followup"}]},
    ],
}


def make_sequence(store, key="seq", steps=("value", "complements", "feedback"), **kw):
    return sequence_create(store=store, key=key, name=key.title(), trigger="first_purchase",
                           steps=[{"kind": k, "delay_minutes": 60} for k in steps], **kw)


def fields(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    return body["extra"].get("fields", {})


def test_create_read_update_pause_round_trip(api, store):
    created = api.post("/api/v1/sequences", NEW_SEQUENCE, content_type=JSON)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "paused"  # nothing is sent before the merchant enables it
    assert body["offer"] is True and body["step_count"] == 2
    assert [(s["position"], s["kind"]) for s in body["steps"]] == [(1, "value"), (2, "complements")]
    assert body["steps"][0]["window_start_hour"] == 9 and body["steps"][1]["conditions"] == {
        "bought_since": False}
    assert body["steps"][1]["variants"] == [{"key": "a", "weight": 3},
                                            {"key": "b", "weight": 1, "kind": "followup"}]
    assert body["stats"] == {"enrolled": 0, "holdout": 0, "sent": 0, "clicked": 0}
    pk = body["id"]

    enabled = api.patch(f"/api/v1/sequences/{pk}", {"status": "active"}, content_type=JSON)
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"
    changed = api.patch(f"/api/v1/sequences/{pk}", {
        "name": "Tents", "priority": 40, "exit_on": "recommended_item", "reenroll_days": 14,
        "pause_after_click_hours": 24, "max_hold_days": 7, "audience": {"lifecycle": ["new"]},
        "trigger_config": {"product_types": ["Tent", "Tarp"], "collections": ["camping"]},
    }, content_type=JSON)
    assert changed.status_code == 200, changed.json()
    row = Sequence.objects.get(pk=pk)
    assert (row.name, row.priority, row.exit_on, row.reenroll_days, row.pause_after_click_hours,
            row.max_hold_days) == ("Tents", 40, "recommended_item", 14, 24, 7)
    assert row.audience == {"lifecycle": ["new"]}
    assert row.trigger_config["collections"] == ["camping"]
    paused = api.patch(f"/api/v1/sequences/{pk}", {"status": "paused"}, content_type=JSON)
    assert paused.json()["status"] == "paused"

    # the whole object sent back is fine: read-only fields are ignored
    whole = api.get(f"/api/v1/sequences/{pk}").json()
    again = api.patch(f"/api/v1/sequences/{pk}", {**whole, "name": "Tents 2"}, content_type=JSON)
    assert again.status_code == 200 and again.json()["name"] == "Tents 2"
    assert again.json()["key"] == "post-purchase-tents"

    listed = api.get("/api/v1/sequences?status=paused").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == pk
    assert set(listed["results"][0]) >= {"id", "key", "name", "trigger", "status", "offer", "priority",
                                         "exit_on", "reenroll_days", "step_count", "stats"}
    assert api.get("/api/v1/sequences?status=active").json()["count"] == 0


def test_list_is_paginated_with_stats(api, store):
    seqs = [make_sequence(store, key=f"s{i}", priority=i) for i in range(3)]
    first = seqs[0]
    buyers = [customer(store, f"c{i}") for i in range(3)]
    now = timezone.now()
    for c in buyers[:2]:
        Enrollment.objects.create(store=store, sequence=first, customer=c, trigger_key=f"k{c.pk}",
                                  triggered_at=now, enrolled_at=now)
    Enrollment.objects.create(store=store, sequence=first, customer=buyers[0], trigger_key="again",
                              triggered_at=now, enrolled_at=now, status="completed")
    SequenceAssignment.objects.create(store=store, sequence_id=first.pk, customer=buyers[2], arm=HOLDOUT,
                                      holdout_share=Decimal("0.1"), first_enrolled_at=now)
    sent = [OutboundEmail.objects.create(store=store, customer=c, email=c.email, kind="value",
                                         sequence_id=first.pk, idempotency_key=f"o{c.pk}",
                                         scheduled_for=now, status="sent", sent_at=now)
            for c in buyers[:2]]
    OutboundEmail.objects.create(store=store, customer=buyers[2], kind="value", sequence_id=first.pk,
                                 idempotency_key="skipped", scheduled_for=now, status="skipped")
    link = TrackedLink.objects.create(store=store, outbound=sent[0], position=0, url="https://x.test/")
    for _ in range(2):
        Click.objects.create(store=store, link=link, outbound=sent[0], customer=buyers[0])

    page = api.get("/api/v1/sequences?limit=2").json()
    assert page["count"] == 3 and page["next"] is not None and len(page["results"]) == 2
    assert [r["key"] for r in page["results"]] == ["s2", "s1"]  # highest priority first
    last = api.get("/api/v1/sequences?limit=2&offset=2").json()["results"][0]
    assert last["key"] == "s0" and last["step_count"] == 3
    assert last["stats"] == {"enrolled": 2, "holdout": 1, "sent": 2, "clicked": 1}


def test_create_validation_errors_name_the_field(api, store):
    def post(**changes):
        return api.post("/api/v1/sequences", {**NEW_SEQUENCE, **changes}, content_type=JSON)

    one_hour = post(steps=[{"kind": "value", "window_start_hour": 9}])
    assert one_hour.status_code == 400
    assert "window_end_hour" in fields(one_hour)["steps"]["0"]

    subject = post(steps=[{"kind": "value", "variants": [{"key": "a", "subject": "Hi"}]}])
    assert subject.status_code == 400
    assert "subject" in fields(subject)["steps"]["0"]["variants"]["0"]

    twice = post(steps=[{"kind": "value"}, {"kind": "value", "variants": [{"key": "a"}, {"key": "a"}]}])
    assert twice.status_code == 400 and set(fields(twice)["steps"]) == {"1"}
    assert "variants" in fields(twice)["steps"]["1"]

    assert "kind" in fields(post(steps=[{"kind": "poem"}]))["steps"]["0"]
    segment = post(steps=[{"kind": "value", "conditions": {"segment": {"rfm": ["x"]}}}])
    assert "rfm" in fields(segment)["steps"]["0"]["conditions"][0]
    assert "trigger" in fields(post(trigger="full_moon"))
    assert "steps" in fields(post(steps=[]))
    bad_config = post(trigger_config={"product_types": "Tent"})
    assert bad_config.status_code == 400 and "trigger_config" in fields(bad_config)
    wrong_key = post(trigger="abandoned_cart", trigger_config={"quiet_minutes": "soon"})
    assert "trigger_config" in fields(wrong_key)
    assert "audience" in fields(post(audience={"lifecycle": ["sleepy"]}))
    assert "nonsense" in fields(post(nonsense=1))

    assert post().status_code == 201
    duplicate = post()
    assert duplicate.status_code == 400 and "key" in fields(duplicate)
    assert Sequence.objects.for_store(store).count() == 1


def test_update_validation_errors_name_the_field(api, store):
    seq = make_sequence(store)
    url = f"/api/v1/sequences/{seq.pk}"
    assert "status" in fields(api.patch(url, {"status": "sleeping"}, content_type=JSON))
    assert "max_hold_days" in fields(api.patch(url, {"max_hold_days": 0}, content_type=JSON))
    assert "trigger_config" in fields(api.patch(url, {"trigger_config": {"days": 3}}, content_type=JSON))
    assert "audience" in fields(api.patch(url, {"audience": {"min_orders": "two"}}, content_type=JSON))
    assert "color" in fields(api.patch(url, {"color": "red"}, content_type=JSON))
    seq.refresh_from_db()
    assert seq.trigger_config == {} and seq.max_hold_days == 14


def test_steps_round_trip_and_ordering(api, store):
    seq = make_sequence(store, steps=("value", "feedback"))
    url = f"/api/v1/sequences/{seq.pk}/steps"
    listed = api.get(url).json()
    assert listed["count"] == 2 and [s["kind"] for s in listed["results"]] == ["value", "feedback"]
    assert set(listed["results"][0]) >= {"id", "position", "kind", "delay_minutes", "window_start_hour",
                                         "window_end_hour", "conditions", "variants"}

    appended = api.post(url, {"kind": "complements", "delay_minutes": 30}, content_type=JSON)
    assert appended.status_code == 201 and appended.json()["position"] == 3
    first = api.post(url, {"kind": "checkin", "position": 1, "window_start_hour": 10,
                           "window_end_hour": 18}, content_type=JSON)
    assert first.status_code == 201 and first.json()["position"] == 1
    kinds = [s["kind"] for s in api.get(url).json()["results"]]
    assert kinds == ["checkin", "value", "feedback", "complements"]
    assert Sequence.objects.get(pk=seq.pk).offer is True  # complements carries an offer

    step_id = appended.json()["id"]
    moved = api.patch(f"{url}/{step_id}", {"position": 2, "delay_minutes": 90,
                                           "variants": [{"key": "short"}, {"key": "long", "weight": 2}]},
                      content_type=JSON)
    assert moved.status_code == 200, moved.json()
    assert moved.json()["position"] == 2 and moved.json()["delay_minutes"] == 90
    assert moved.json()["variants"] == [{"key": "short", "weight": 1}, {"key": "long", "weight": 2}]
    assert [s["kind"] for s in api.get(url).json()["results"]] == ["checkin", "complements", "value",
                                                                   "feedback"]
    assert api.get(f"{url}/{step_id}").json()["kind"] == "complements"

    assert api.delete(f"{url}/{step_id}").status_code == 204
    rows = list(Step.objects.filter(sequence=seq).values_list("position", "kind"))
    assert rows == [(1, "checkin"), (2, "value"), (3, "feedback")]
    assert Sequence.objects.get(pk=seq.pk).offer is False
    assert api.get(f"/api/v1/sequences/{seq.pk}").json()["step_count"] == 3


def test_step_validation_errors_name_the_field(api, store):
    seq = make_sequence(store, steps=("value",))
    url = f"/api/v1/sequences/{seq.pk}/steps"
    step = Step.objects.get(sequence=seq)
    assert "window_end_hour" in fields(api.patch(f"{url}/{step.pk}", {"window_start_hour": 9},
                                                 content_type=JSON))
    assert "window_end_hour" in fields(api.post(url, {"kind": "value", "window_start_hour": 9,
                                                      "window_end_hour": 24}, content_type=JSON))
    assert "delay_minutes" in fields(api.post(url, {"kind": "value", "delay_minutes": -1},
                                              content_type=JSON))
    assert "conditions" in fields(api.post(url, {"kind": "value", "conditions": {"weather": "sun"}},
                                           content_type=JSON))
    zero = api.post(url, {"kind": "value", "variants": [{"key": "a", "weight": 0}]}, content_type=JSON)
    assert "variants" in fields(zero)
    bad_key = api.post(url, {"kind": "value", "variants": [{"key": "not a key!"}]}, content_type=JSON)
    assert "key" in fields(bad_key)["variants"]["0"]
    # the only step cannot go: pause or archive the sequence instead
    last = api.delete(f"{url}/{step.pk}")
    assert last.status_code == 400 and last.json()["code"] == "validation_failed"
    assert Step.objects.filter(sequence=seq).count() == 1


def test_deleting_a_step_moves_its_waiting_enrolments_on(api, store):
    seq = make_sequence(store, steps=("value", "complements", "feedback"))
    value, complements, feedback = Step.objects.filter(sequence=seq).order_by("position")
    now = timezone.now()
    waiting, at_last, being_sent = (customer(store, f"w{i}") for i in range(3))
    policy = policy_for(store)

    def enrol(who, step):
        e = Enrollment.objects.create(store=store, sequence=seq, customer=who, trigger_key=f"t{who.pk}",
                                      triggered_at=now, enrolled_at=now)
        return e, step_schedule(enrollment=e, step=step, base=now, store=store, customer=who,
                                policy=policy)

    moved, _ = enrol(waiting, complements)
    finishing, _ = enrol(at_last, feedback)
    url = f"/api/v1/sequences/{seq.pk}/steps"

    assert api.delete(f"{url}/{complements.pk}").status_code == 204
    nxt = ScheduledSend.objects.get(enrollment=moved)
    assert nxt.step_id == feedback.pk and nxt.status == "scheduled"
    assert api.delete(f"{url}/{feedback.pk}").status_code == 204
    for e in (moved, finishing):
        e.refresh_from_db()
        assert e.status == "completed"

    # a send of the step being made right now: 409, nothing changes
    _, send = enrol(being_sent, value)
    ScheduledSend.objects.filter(pk=send.pk).update(status="queued")
    api.post(url, {"kind": "feedback"}, content_type=JSON)
    conflict = api.delete(f"{url}/{value.pk}")
    assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
    assert Step.objects.filter(pk=value.pk).exists()


def test_another_stores_sequences_and_steps_are_404(api, other_api, store):
    seq = make_sequence(store)
    step = Step.objects.filter(sequence=seq).first()
    base = f"/api/v1/sequences/{seq.pk}"
    calls = [
        ("get", base, None), ("patch", base, {"name": "x"}),
        ("get", f"{base}/steps", None), ("post", f"{base}/steps", {"kind": "value"}),
        ("get", f"{base}/steps/{step.pk}", None), ("patch", f"{base}/steps/{step.pk}", {"delay_minutes": 1}),
        ("delete", f"{base}/steps/{step.pk}", None),
        ("get", f"{base}/steps/{step.pk}/preview", None),
        ("post", f"{base}/steps/{step.pk}/send-test", {"to": "me@example.com"}),
    ]
    for method, url, body in calls:
        response = getattr(other_api, method)(url, body, content_type=JSON) if body else getattr(
            other_api, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert set(response.json()) == {"code", "message", "extra"}
    assert other_api.get("/api/v1/sequences").json()["count"] == 0
    # a step id of another sequence (same store) is 404 too
    other_seq = make_sequence(store, key="other")
    assert api.get(f"/api/v1/sequences/{other_seq.pk}/steps/{step.pk}").status_code == 404
    assert Step.objects.filter(pk=step.pk, delay_minutes=60).exists()
    assert Sequence.objects.get(pk=seq.pk).name == "Seq"


@pytest.fixture
def tent_shop(store):
    """A buyer of a tent, and other camping gear in stock (cheap enough not to be durable)."""
    tent = product(store, "tent", title="Trail Tent", product_type="Camping", price="30.00")
    lamp = product(store, "lamp", title="Camp Lamp", product_type="Camping", price="25.00")
    mug = product(store, "mug", title="Enamel Mug", product_type="Camping", price="12.00")
    buyer = customer(store, "buyer")
    buyer.first_name = "Robin"
    buyer.save()
    order(store, buyer, "o1", [tent], days_ago=2)
    return {"tent": tent, "lamp": lamp, "mug": mug, "buyer": buyer}


def test_preview_every_step_for_a_real_customer(api, store, tent_shop):
    seq = make_sequence(store, steps=("value", "complements", "feedback", "bundle"))
    buyer = tent_shop["buyer"]
    steps = list(Step.objects.filter(sequence=seq).order_by("position"))
    for step in steps:
        response = api.get(f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/preview?customer_id={buyer.pk}")
        assert response.status_code == 200, (step.kind, response.json())
        body = response.json()
        assert body["customer_id"] == buyer.pk and body["step_id"] == step.pk
        assert body["subject"] and "<html" in body["html"].lower() and body["text"]
    complements = api.get(f"/api/v1/sequences/{seq.pk}/steps/{steps[1].pk}/preview"
                          f"?customer_id={buyer.pk}").json()
    assert complements["source"] == "customer" and complements["kind"] == "complements"
    assert set(complements["product_ids"]) == {"lamp", "mug"}  # never the tent they just bought
    assert "Camp Lamp" in complements["html"] and "Trail Tent" not in complements["html"]
    value = api.get(f"/api/v1/sequences/{seq.pk}/steps/{steps[0].pk}/preview?customer_id={buyer.pk}").json()
    assert "Robin" in value["text"] and "Trail Tent" in value["html"]
    # no bundle is set up for the tent: the step falls back to complements, and says so
    bundle = api.get(f"/api/v1/sequences/{seq.pk}/steps/{steps[3].pk}/preview?customer_id={buyer.pk}").json()
    assert bundle["kind"] == "complements" and bundle["note"]
    # without a customer: a sample from the catalogue
    sample = api.get(f"/api/v1/sequences/{seq.pk}/steps/{steps[1].pk}/preview").json()
    assert sample["source"] == "sample" and sample["customer_id"] is None
    # nothing was recorded
    assert not Enrollment.objects.exists() and not ScheduledSend.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_preview_of_a_customer_without_content_and_bad_parameters(api, store, tent_shop):
    seq = make_sequence(store, steps=("complements",))
    step = Step.objects.get(sequence=seq)
    url = f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/preview"
    nobody = customer(store, "never-ordered")
    empty = api.get(f"{url}?customer_id={nobody.pk}").json()
    assert empty["would_skip"] is True and empty["source"] == "sample" and empty["note"]
    assert api.get(f"{url}?customer_id=999999").status_code == 404
    assert "variant" in fields(api.get(f"{url}?variant=zzz"))
    assert "customer_id" in fields(api.get(f"{url}?customer_id=abc"))


def test_preview_of_an_incentive_step_issues_no_code(api, store, tent_shop):
    Incentive.objects.create(store=store, name="Ten off", kind="percent_off", percent_off=Decimal("10"),
                             level=0, code_prefix="CAMP")
    seq = make_sequence(store, steps=("incentive",))
    step = Step.objects.get(sequence=seq)
    body = api.get(f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/preview"
                   f"?customer_id={tent_shop['buyer'].pk}").json()
    assert body["kind"] == "incentive" and "CAMP-PREVIEW" in body["html"]
    assert "placeholder" in body["note"]
    assert not IssuedCode.objects.exists()


def test_step_variants_preview_their_own_kind(api, store, tent_shop):
    seq = sequence_create(store=store, key="ab", name="AB", trigger="first_purchase", steps=[
        {"kind": "complements", "variants": [{"key": "a", "weight": 1},
                                             {"key": "b", "weight": 1, "kind": "feedback"}]}])
    step = Step.objects.get(sequence=seq)
    url = f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/preview?customer_id={tent_shop['buyer'].pk}"
    assert api.get(f"{url}&variant=a").json()["kind"] == "complements"
    assert api.get(f"{url}&variant=b").json()["kind"] == "feedback"


def test_send_test_goes_through_the_stores_mailer_and_records_nothing(
        api, store, tent_shop, smtp_server, mailbox, settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP,
                       from_email="news@first.example", smtp_host="127.0.0.1",
                       smtp_port=smtp_server.port, smtp_security=MailerAccount.Security.NONE)
    seq = make_sequence(store, steps=("value", "complements"))
    step = Step.objects.filter(sequence=seq).order_by("position").last()
    sent = api.post(f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/send-test",
                    {"to": "owner@first.example", "customer_id": tent_shop["buyer"].pk},
                    content_type=JSON)
    assert sent.status_code == 200, sent.json()
    body = sent.json()
    assert body["ok"] is True and body["transport"] == "smtp" and body["source"] == "customer"
    assert body["subject"].startswith("[Test] ")
    [message] = mailbox.parsed()
    assert message["To"] == "owner@first.example" and message["Subject"].startswith("[Test]")
    html = message.get_body(("html",)).get_content()
    assert "Camp Lamp" in html
    assert not Enrollment.objects.exists() and not OutboundEmail.objects.exists()
    assert not ScheduledSend.objects.exists()
    account = MailerAccount.objects.get(store=store)
    assert account.last_test_at is None  # the mailer's own test status is left alone

    assert "to" in fields(api.post(f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/send-test",
                                   {"to": "not-an-address"}, content_type=JSON))


def test_send_test_without_a_mailer_lands_in_the_outbox(api, store):
    seq = make_sequence(store, steps=("feedback",))
    step = Step.objects.get(sequence=seq)
    sent = api.post(f"/api/v1/sequences/{seq.pk}/steps/{step.pk}/send-test", {"to": "me@example.com"},
                    content_type=JSON).json()
    assert sent["ok"] is True and sent["transport"] == "outbox" and sent["source"] == "sample"
    outbox = OutboxMessage.objects.get(store=store)
    assert outbox.to == "me@example.com" and outbox.outbound_id is None
    assert outbox.subject.startswith("[Test] ")
    assert not OutboundEmail.objects.exists()
    assert timezone.now() - outbox.created_at < timedelta(minutes=1)
