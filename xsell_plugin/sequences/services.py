"""Writes for sequences: definitions, enrolments, exits and pauses, and sending one step.

``send_step(scheduled_id)`` is what the dispatcher's task runs. In one transaction it claims the
row (``queued`` -> done; a duplicate delivery of the task finds nothing to claim), locks the
customer (PostgreSQL; SQLite serialises writers), re-checks everything at send time (store,
enrolment, consent and suppression, purchases since the trigger, pauses, the send window, the
step's conditions, the guardrails over every sequence, the store's daily cap), picks the content
*now* (fresh stock and prices), creates the ``OutboundEmail`` (idempotency key unique per
ScheduledSend, so a second run can never make a second email) and schedules the next step. The
email is enqueued for sending when the transaction commits (or sent inline with ``deliver``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from emails.context import COPY_OVERRIDE_FIELDS, incentive_snapshot
from emails.kinds import KINDS, Kind
from emails.rendering import RenderedEmail, copy_fill
from emails.services import TestSendResult, email_send, outbound_email_create, rendered_test_send
from xsell_plugin.activity.models import ActivityEvent, Checkout
from xsell_plugin.core.exceptions import Conflict, NotFound, ValidationFailed
from xsell_plugin.customers.models import Customer, Preference
from xsell_plugin.customers.segments import segment_filter_validate, segment_matches
from xsell_plugin.experiments.assignment import Assignment
from xsell_plugin.experiments.services import assignment_for_enrolment
from xsell_plugin.offers.models import Incentive
from xsell_plugin.offers.rules import code_ends_at
from xsell_plugin.offers.selectors import incentive_for_customer
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.sequences import guardrails, timing
from xsell_plugin.sequences.consent import contact_block_reason
from xsell_plugin.sequences.guardrails import OFFER_KINDS, Policy, Reason
from xsell_plugin.sequences.models import (
    DailySendCount,
    Enrollment,
    ScheduledSend,
    Sequence,
    SequenceSettings,
    Step,
)
from xsell_plugin.sequences.selectors import (
    clicked_since,
    customer_facts,
    is_suppressed,
    orders_since,
    policy_for,
    send_history,
)
from xsell_plugin.sequences.templates import DEFAULTS, SequenceTemplate
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)
SS = ScheduledSend.Status
# A send blocked by a guardrail waits when it could go within this long of its first due time;
# otherwise it is skipped (with the reason) and the sequence moves on.
GUARDRAIL_MAX_DEFER = timedelta(hours=48)
CHECKOUT_TRIGGERS = (Sequence.Trigger.ABANDONED_CHECKOUT, Sequence.Trigger.ABANDONED_CART)
HOLDOUT_REASON = "holdout"


# Definitions -------------------------------------------------------------------------------------

def sequence_settings_set(*, store: Store, **fields: Any) -> SequenceSettings:
    allowed = {f.name for f in SequenceSettings._meta.concrete_fields} - {
        "id", "store", "created_at", "updated_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed("Unknown sequence settings.", extra={"fields": sorted(unknown)})
    if fields.get("soft_opt_in") and not (fields.get("soft_opt_in_policy") or SequenceSettings.objects
                                          .for_store(store).exclude(soft_opt_in_policy="").exists()):
        raise ValidationFailed("Soft opt-in needs the store's documented policy (a URL or text).",
                               extra={"field": "soft_opt_in_policy"})
    for hour_field in ("quiet_start_hour", "quiet_end_hour"):
        if hour_field in fields and not 0 <= int(fields[hour_field]) <= 23:
            raise ValidationFailed("Hours are 0 to 23.", extra={"field": hour_field})
    row, _ = SequenceSettings.objects.update_or_create(
        store=store, defaults={**fields, "updated_at": timezone.now()})
    return row


def _validate_steps(steps: Seq[Mapping[str, Any]]) -> None:
    if not steps:
        raise ValidationFailed("A sequence needs at least one step.")
    for n, step in enumerate(steps):
        kinds = [step["kind"], *(v.get("kind") for v in step.get("variants", ()) if v.get("kind"))]
        for kind in kinds:
            if kind not in KINDS:
                raise ValidationFailed(f"Unknown email kind {kind!r}.", extra={"step": n})
        window = (step.get("window_start_hour"), step.get("window_end_hour"))
        if (window[0] is None) != (window[1] is None) or any(
                h is not None and not 0 <= h <= 23 for h in window):
            raise ValidationFailed("A send window is two hours, 0 to 23.", extra={"step": n})
        conditions = step.get("conditions") or {}
        unknown = set(conditions) - {"segment", "clicked", "bought_since"}
        if unknown:
            raise ValidationFailed("Unknown step conditions.", extra={"step": n, "keys": sorted(unknown)})
        try:
            segment_filter_validate(conditions.get("segment") or {})
        except ValueError as exc:
            raise ValidationFailed(str(exc), extra={"step": n}) from None


def sequence_create(*, store: Store, key: str, name: str, trigger: str,
                    steps: Seq[Mapping[str, Any]], trigger_config: Mapping[str, Any] | None = None,
                    audience: Mapping[str, Any] | None = None, exit_on: str = Sequence.ExitOn.ANY_ORDER,
                    status: str = Sequence.Status.ACTIVE, priority: int = 0, reenroll_days: int = 30,
                    pause_after_click_hours: int = 72, max_hold_days: int = 14) -> Sequence:
    """Create a sequence with its steps. ``steps``: dicts with ``kind``, ``delay_minutes`` and
    optionally ``window_start_hour``/``window_end_hour``, ``conditions``, ``variants``."""
    if trigger not in Sequence.Trigger.values:
        raise ValidationFailed(f"Unknown trigger {trigger!r}.", extra={"trigger": trigger})
    if exit_on not in Sequence.ExitOn.values:
        raise ValidationFailed(f"Unknown exit rule {exit_on!r}.")
    _validate_steps(steps)
    try:
        segment_filter_validate(audience or {})
    except ValueError as exc:
        raise ValidationFailed(str(exc), extra={"field": "audience"}) from None
    offer = any(s["kind"] in OFFER_KINDS or any(v.get("kind") in OFFER_KINDS for v in s.get("variants", ()))
                for s in steps)
    with transaction.atomic():
        sequence = Sequence.objects.create(
            store=store, key=key, name=name, trigger=trigger, trigger_config=dict(trigger_config or {}),
            audience=dict(audience or {}), exit_on=exit_on, status=status, priority=priority,
            offer=offer, reenroll_days=reenroll_days, pause_after_click_hours=pause_after_click_hours,
            max_hold_days=max_hold_days)
        Step.objects.bulk_create([
            Step(store=store, sequence=sequence, position=n + 1, kind=s["kind"],
                 delay_minutes=int(s.get("delay_minutes", 0)),
                 window_start_hour=s.get("window_start_hour"), window_end_hour=s.get("window_end_hour"),
                 conditions=dict(s.get("conditions") or {}), variants=list(s.get("variants") or []))
            for n, s in enumerate(steps)
        ])
    return sequence


def _template_steps(template: SequenceTemplate) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "delay_minutes": s.delay_minutes,
             "window_start_hour": s.window[0] if s.window else None,
             "window_end_hour": s.window[1] if s.window else None, "conditions": dict(s.conditions)}
            for s in template.steps]


def default_sequences_install(*, store: Store, status: str = Sequence.Status.ACTIVE,
                              templates: Iterable[SequenceTemplate] = DEFAULTS) -> list[Sequence]:
    """Create the shipped sequences for a store; ones it already has (by key) are left as the
    merchant made them, so calling this again changes nothing."""
    made = []
    for template in templates:
        if Sequence.objects.for_store(store).filter(key=template.key).exists():
            continue
        try:
            with transaction.atomic():
                made.append(sequence_create(
                    store=store, key=template.key, name=template.name, trigger=template.trigger,
                    steps=_template_steps(template), trigger_config=template.trigger_config,
                    audience=template.audience, exit_on=template.exit_on, status=status,
                    priority=template.priority, reenroll_days=template.reenroll_days))
        except IntegrityError:  # installed concurrently
            continue
    return made


# Enrolment -------------------------------------------------------------------------------------

def variant_for(step: Step, customer_id: int) -> str:
    """The step's own variant for a customer (``step.variants``): stable, weighted by
    ``weight``. A running experiment's variant takes precedence (``variant_pick``)."""
    variants = [v for v in step.variants or () if v.get("key")]
    if not variants:
        return "a"
    total = sum(max(int(v.get("weight", 1)), 0) for v in variants) or len(variants)
    digest = hashlib.sha256(f"xsell-variant:{step.pk}:{customer_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for v in variants:
        point -= max(int(v.get("weight", 1)), 0)
        if point < 0:
            return str(v["key"])[:20]
    return str(variants[-1]["key"])[:20]


def _variant_kind(step: Step, variant: str) -> str:
    for v in step.variants or ():
        if v.get("key") == variant and v.get("kind"):
            return v["kind"]
    return step.kind


def _zone(store: Store, customer: Customer) -> str:
    return timing.local_zone_name(customer.timezone, store.timezone)


def _assignment(store: Store, enrollment: Enrollment, customer: Customer, now: datetime) -> Assignment:
    return assignment_for_enrolment(store.pk, enrollment.sequence_id, customer.pk,
                                    sequence_key=enrollment.sequence.key, now=now)


def variant_pick(step: Step, customer_id: int, assignment: Assignment | None) -> tuple[str, dict]:
    """The variant key of a step for a customer and what it changes: the running experiment's
    variant (for its step, or every step when it names none), else the step's own variants."""
    if assignment is not None and assignment.variant and (
            assignment.step_id is None or assignment.step_id == step.pk):
        return assignment.variant[:40], dict(assignment.variant_config or {})
    return variant_for(step, customer_id), {}


def step_schedule(*, enrollment: Enrollment, step: Step, base: datetime, store: Store,
                  customer: Customer, policy: Policy, assignment: Assignment | None = None,
                  now: datetime | None = None) -> ScheduledSend:
    """The ScheduledSend of ``step``: ``base`` + its delay (or a timing variant's), moved out of
    quiet hours and into its send window in the customer's local time, not before the
    enrolment's pause ends. ``assignment``: the enrolment's arm and variant (read when absent)."""
    if assignment is None:
        assignment = _assignment(store, enrollment, customer, now or base)
    variant, config = variant_pick(step, customer.pk, assignment)
    delay = timedelta(minutes=step.delay_minutes)
    if config.get("delay_hours") is not None:
        delay = timedelta(hours=float(config["delay_hours"]))
    due = timing.step_due_at(
        base, delay, _zone(store, customer),
        quiet_start=policy.quiet_start_hour, quiet_end=policy.quiet_end_hour,
        window_start=step.window_start_hour, window_end=step.window_end_hour,
        not_before=enrollment.paused_until)
    send, _ = ScheduledSend.objects.get_or_create(
        store=store, enrollment=enrollment, step=step,
        defaults={"due_at": due, "first_due_at": due, "variant": variant, "variant_config": config})
    return send


@dataclass(frozen=True, slots=True)
class EnrolResult:
    enrollment: Enrollment | None
    # why not: duplicate, cooldown, offer_active, no_steps; or "holdout" (enrolled, not emailed)
    reason: str = ""


def enrollment_create(*, store: Store, sequence: Sequence, customer: Customer, trigger_key: str,
                      triggered_at: datetime, facts: Mapping[str, Any], now: datetime,
                      policy: Policy | None = None) -> EnrolResult:
    """Enrol once per (sequence, customer, trigger key) and schedule the first step. Not when the
    customer was enrolled in this sequence within ``reenroll_days``, or is in another offer
    sequence (a partial unique index: one active offer enrolment per customer). A customer in the
    sequence's holdout is enrolled and at once exited (``exit_reason="holdout"``): logged for the
    incremental comparison, never emailed."""
    steps = list(sequence.steps.all())
    if not steps:
        return EnrolResult(None, "no_steps")
    key = trigger_key[:200]
    if Enrollment.objects.for_store(store).filter(sequence=sequence, customer=customer,
                                                  trigger_key=key).exists():
        return EnrolResult(None, "duplicate")
    if sequence.reenroll_days and Enrollment.objects.for_store(store).filter(
            sequence=sequence, customer=customer,
            enrolled_at__gt=now - timedelta(days=sequence.reenroll_days)).exists():
        return EnrolResult(None, "cooldown")
    try:
        with transaction.atomic():
            # The holdout (a control): enrolled and logged, never emailed (docs/measurement.md).
            assignment = assignment_for_enrolment(store.pk, sequence.pk, customer.pk,
                                                  sequence_key=sequence.key, now=now)
            held_out = assignment.is_holdout
            enrollment = Enrollment.objects.create(
                store=store, sequence=sequence, customer=customer, trigger_key=key,
                offer=sequence.offer, triggered_at=triggered_at, enrolled_at=now,
                status=Enrollment.Status.EXITED if held_out else Enrollment.Status.ACTIVE,
                exit_reason=HOLDOUT_REASON if held_out else "", finished_at=now if held_out else None,
                facts=dict(facts), created_at=now, updated_at=now)
            if not held_out:
                step_schedule(enrollment=enrollment, step=steps[0], base=now, store=store,
                              customer=customer, policy=policy or policy_for(store),
                              assignment=assignment, now=now)
    except IntegrityError:
        duplicate = Enrollment.objects.for_store(store).filter(
            sequence=sequence, customer=customer, trigger_key=key).exists()
        return EnrolResult(None, "duplicate" if duplicate else "offer_active")
    return EnrolResult(enrollment, HOLDOUT_REASON if held_out else "")


def enrollments_exit(*, enrollment_ids: Iterable[int], reason: str, now: datetime) -> int:
    """End active enrolments and cancel what they still had scheduled. Returns how many ended."""
    ids = list(enrollment_ids)
    if not ids:
        return 0
    with transaction.atomic():
        ended = list(Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE)
                     .values_list("pk", flat=True))
        if not ended:
            return 0
        Enrollment.objects.filter(pk__in=ended, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.EXITED, exit_reason=reason[:40], finished_at=now, updated_at=now)
        ScheduledSend.objects.filter(enrollment_id__in=ended, status__in=[SS.SCHEDULED, SS.QUEUED]).update(
            status=SS.CANCELLED, reason=reason[:40], finished_at=now, lease_expires_at=None,
            updated_at=now)
    return len(ended)


def enrollments_pause(*, store: Store, customer_id: int, at: datetime, now: datetime,
                      exclude_sequence_ids: Iterable[int] = ()) -> int:
    """A meaningful action (a click): hold the customer's active enrolments for each sequence's
    ``pause_after_click_hours`` after ``at``; they resume by themselves."""
    paused = 0
    active = (Enrollment.objects.for_store(store)
              .filter(customer_id=customer_id, status=Enrollment.Status.ACTIVE, enrolled_at__lte=at)
              .exclude(sequence_id__in=list(exclude_sequence_ids))
              .select_related("sequence"))
    for enrollment in active:
        hours = enrollment.sequence.pause_after_click_hours
        if not hours:
            continue
        until = at + timedelta(hours=hours)
        if enrollment.paused_until and enrollment.paused_until >= until:
            continue
        Enrollment.objects.filter(pk=enrollment.pk).update(paused_until=until, updated_at=now)
        ScheduledSend.objects.filter(enrollment=enrollment, status=SS.SCHEDULED,
                                     due_at__lt=until).update(due_at=until, updated_at=now)
        paused += 1
    return paused


# Sending one step ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StepOutcome:
    scheduled_id: int
    status: str  # a ScheduledSend status, or "not_claimed"
    reason: str = ""
    outbound_id: int | None = None
    email_status: str = ""  # with deliver=True: what email_send did


@dataclass(frozen=True, slots=True)
class Content:
    kind: str
    context: dict[str, Any]
    product_ids: tuple[str, ...] = ()  # external ids recommended (for "bought the recommended")


def content_builder():
    return import_string(settings.XSELL_SEQUENCE_CONTENT)


def send_step(scheduled_id: int, *, now: datetime | None = None, deliver: bool = False) -> StepOutcome:
    """Process one claimed ScheduledSend (see the module docstring). Safe to run any number of
    times: only the run that finds it ``queued`` does anything."""
    now = now or timezone.now()
    try:
        outcome = _send_step(scheduled_id, now=now, deliver=deliver)
    except Exception:
        # Everything rolled back (the row is still ``queued``; the dispatcher takes it again when
        # its lease expires). Count the failure outside that transaction, and give up after a few.
        logger.exception("scheduled send %s failed", scheduled_id)
        _failure_record(scheduled_id, now=now)
        raise
    if deliver and outcome.outbound_id:
        result = email_send(outcome.outbound_id, now=now)
        return StepOutcome(outcome.scheduled_id, outcome.status, outcome.reason, outcome.outbound_id,
                           result.status)
    return outcome


MAX_FAILURES = 5


def _failure_record(scheduled_id: int, *, now: datetime) -> None:
    ScheduledSend.objects.filter(pk=scheduled_id, status=SS.QUEUED).update(
        attempts=F("attempts") + 1, updated_at=now)
    row = ScheduledSend.objects.filter(pk=scheduled_id, status=SS.QUEUED,
                                       attempts__gte=MAX_FAILURES).values("enrollment_id").first()
    if row is not None:
        ScheduledSend.objects.filter(pk=scheduled_id, status=SS.QUEUED).update(
            status=SS.SKIPPED, reason=Reason.FAILED, finished_at=now, lease_expires_at=None,
            updated_at=now)
        enrollments_exit(enrollment_ids=[row["enrollment_id"]], reason=Reason.FAILED, now=now)


def _send_step(scheduled_id: int, *, now: datetime, deliver: bool) -> StepOutcome:
    with transaction.atomic():
        # The claim is the first statement: a write, so SQLite takes its write lock here and a
        # concurrent run waits; on PostgreSQL the row lock makes a duplicate wait, then miss.
        claimed = ScheduledSend.objects.filter(pk=scheduled_id, status=SS.QUEUED).update(
            attempts=F("attempts") + 1, updated_at=now)
        if claimed != 1:
            row = ScheduledSend.objects.filter(pk=scheduled_id).values("status", "reason").first()
            return StepOutcome(scheduled_id, "not_claimed", row["status"] if row else "missing")
        send = (ScheduledSend.objects
                .select_related("store", "step", "enrollment__sequence", "enrollment__customer")
                .get(pk=scheduled_id))
        return _process(send, now=now, deliver=deliver)


def _finish(send: ScheduledSend, status: str, reason: str, now: datetime, **changes: Any) -> StepOutcome:
    ScheduledSend.objects.filter(pk=send.pk).update(
        status=status, reason=reason[:40], finished_at=now, lease_expires_at=None, updated_at=now,
        **changes)
    return StepOutcome(send.pk, status, reason, changes.get("outbound_id"))


def _defer(send: ScheduledSend, until: datetime, reason: str, now: datetime) -> StepOutcome:
    ScheduledSend.objects.filter(pk=send.pk).update(
        status=SS.SCHEDULED, due_at=until, reason=reason[:40], lease_expires_at=None,
        deferrals=F("deferrals") + 1, updated_at=now)
    return StepOutcome(send.pk, SS.SCHEDULED, reason)


def _exit(send: ScheduledSend, status: str, reason: str, now: datetime) -> StepOutcome:
    outcome = _finish(send, status, reason, now)
    enrollments_exit(enrollment_ids=[send.enrollment_id], reason=reason, now=now)
    return outcome


def _next(send: ScheduledSend, *, now: datetime, policy: Policy) -> None:
    """Schedule the step after this one, or complete the enrolment."""
    enrollment = send.enrollment
    following = (Step.objects.filter(sequence_id=enrollment.sequence_id, position__gt=send.step.position)
                 .order_by("position").first())
    if following is None:
        Enrollment.objects.filter(pk=enrollment.pk, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.COMPLETED, finished_at=now, updated_at=now)
        return
    step_schedule(enrollment=enrollment, step=following, base=now, store=send.store,
                  customer=enrollment.customer, policy=policy, now=now)


def _skip(send: ScheduledSend, reason: str, *, now: datetime, policy: Policy) -> StepOutcome:
    outcome = _finish(send, SS.SKIPPED, reason, now)
    _next(send, now=now, policy=policy)
    return outcome


def _bought_since(send: ScheduledSend, now: datetime) -> bool:
    """An order after the trigger (the trigger's own order excluded); for ``recommended_item``
    only an order with an item we recommended in this enrolment counts."""
    enrollment = send.enrollment
    orders = Order.objects.for_store(send.store).filter(
        customer_id=enrollment.customer_id, placed_at__gt=enrollment.triggered_at, placed_at__lte=now,
        cancelled_at__isnull=True)
    trigger_order = (enrollment.facts or {}).get("order")
    if trigger_order:
        orders = orders.exclude(external_id=trigger_order)
    if enrollment.sequence.exit_on == Sequence.ExitOn.RECOMMENDED_ITEM:
        recommended = list(enrollment.recommended or ())
        if not recommended:
            return False
        return OrderLine.objects.for_store(send.store).filter(
            order__in=orders, product_external_id__in=recommended).exists()
    return orders.exists()


def _checkout_completed(send: ScheduledSend) -> bool:
    checkout = (send.enrollment.facts or {}).get("checkout")
    return bool(checkout) and Checkout.objects.for_store(send.store).filter(
        external_id=checkout, status=Checkout.Status.COMPLETED).exists()


def _hold_or_exit(send: ScheduledSend, until: datetime, reason: str, exit_reason: str, *,
                  now: datetime, limit: timedelta) -> StepOutcome:
    if until - send.first_due_at > limit:
        return _exit(send, SS.SKIPPED, exit_reason, now)
    return _defer(send, until, reason, now)


def _daily_slot(store: Store, *, now: datetime, cap: int) -> bool:
    """Take one of today's (store-local) sends: ``count + 1 WHERE count < cap``."""
    if not cap:
        return True
    day = timing.local_day(now, store.timezone)
    DailySendCount.objects.get_or_create(store=store, day=day)
    return DailySendCount.objects.for_store(store).filter(day=day, count__lt=cap).update(
        count=F("count") + 1, updated_at=now) == 1


def _process(send: ScheduledSend, *, now: datetime, deliver: bool) -> StepOutcome:
    store, enrollment, step = send.store, send.enrollment, send.step
    sequence, customer = enrollment.sequence, enrollment.customer
    if store.status != Store.Status.ACTIVE:
        _store_stop(store, now=now)
        return _finish(send, SS.CANCELLED, Reason.STORE_INACTIVE, now)
    if enrollment.status != Enrollment.Status.ACTIVE:
        return _finish(send, SS.CANCELLED, Reason.ENROLLMENT_ENDED, now)
    if sequence.status == Sequence.Status.ARCHIVED:
        return _exit(send, SS.CANCELLED, Reason.SEQUENCE_INACTIVE, now)
    policy = policy_for(store)
    max_hold = timedelta(days=sequence.max_hold_days)
    if sequence.status == Sequence.Status.PAUSED:
        return _hold_or_exit(send, now + timedelta(hours=1), Reason.DEFERRED_PAUSE,
                             Reason.HELD_TOO_LONG, now=now, limit=max_hold)
    # Serialise this customer's sends (caps are read, then a send is written).
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
    customer.refresh_from_db()

    # Consent and suppression, read now.
    has_ordered = Order.objects.for_store(store).filter(customer=customer).exists()
    blocked = contact_block_reason(
        consent_state=customer.consent_state, has_email=bool(customer.email),
        suppressed=is_suppressed(store=store, email=customer.email),
        soft_opt_in=policy.soft_opt_in, has_ordered=has_ordered)
    if blocked:
        return _exit(send, SS.SKIPPED, blocked, now)
    pref = Preference.objects.for_store(store).filter(customer=customer).first()
    if pref is not None and sequence.pk in (pref.left_sequences or []):
        return _exit(send, SS.SKIPPED, Reason.LEFT_SEQUENCE, now)

    # Exits: bought since the trigger, the checkout completed.
    if sequence.exit_on != Sequence.ExitOn.NEVER and _bought_since(send, now):
        return _exit(send, SS.CANCELLED, Reason.PURCHASED, now)
    if sequence.trigger in CHECKOUT_TRIGGERS and _checkout_completed(send):
        return _exit(send, SS.CANCELLED, Reason.CHECKOUT_COMPLETED, now)

    # Pauses (after a click; the customer's own pause) hold the step, then it resumes.
    holds = [t for t in (enrollment.paused_until, pref.paused_until if pref else None) if t and t > now]
    if holds:
        return _hold_or_exit(send, max(holds), Reason.DEFERRED_PAUSE, Reason.PAUSED_TOO_LONG,
                             now=now, limit=max_hold)

    # The send window in the customer's local time (a backlog may have pushed us out of it).
    zone_name = _zone(store, customer)
    window = {"quiet_start": policy.quiet_start_hour, "quiet_end": policy.quiet_end_hour,
              "window_start": step.window_start_hour, "window_end": step.window_end_hour}
    if not timing.allowed_at(now, zone_name, **window):
        return _hold_or_exit(send, timing.next_allowed(now, zone_name, **window),
                             Reason.DEFERRED_WINDOW, Reason.HELD_TOO_LONG, now=now, limit=max_hold)

    # The step's own conditions: a skipped step lets the sequence go on.
    reason = _condition_failed(send, now=now)
    if reason:
        return _skip(send, reason, now=now, policy=policy)

    # Guardrails across all sequences.
    variant = send.variant or variant_for(step, customer.pk)
    config = send.variant_config or {}
    kind = _variant_kind(step, variant)
    if config.get("kind") in KINDS:
        kind = config["kind"]
    decision = guardrails.evaluate(
        now=now, kind=kind, policy=policy,
        history=send_history(store=store, customer_id=customer.pk, since=now - policy.lookback),
        recent_orders=orders_since(store=store, customer_id=customer.pk,
                                   since=now - policy.frequent_buyer_period, now=now),
        fewer=pref is not None and pref.frequency == Preference.Frequency.FEWER)
    if not decision.allowed:
        retry = decision.retry_at
        if retry is not None and retry - send.first_due_at <= GUARDRAIL_MAX_DEFER:
            return _defer(send, timing.next_allowed(retry, zone_name, **window), decision.reason, now)
        return _skip(send, decision.reason, now=now, policy=policy)

    # Content picked now: fresh stock, prices, incentive.
    content = content_builder()(store=store, customer=customer, enrollment=enrollment, step=step,
                                kind=kind, variant=variant, now=now, config=config)
    if content is None:
        return _skip(send, Reason.NO_CONTENT, now=now, policy=policy)

    if not _daily_slot(store, now=now, cap=policy.daily_cap):
        tomorrow = timing.next_allowed(timing.next_local_midnight(now, store.timezone), zone_name, **window)
        if tomorrow - send.first_due_at <= GUARDRAIL_MAX_DEFER:
            return _defer(send, tomorrow, Reason.STORE_DAILY_CAP, now)
        return _skip(send, Reason.STORE_DAILY_CAP, now=now, policy=policy)

    context = {**content.context, "sequence": sequence.key, "step": step.position, "variant": variant}
    overrides = {field: copy_fill(str(config[field]), first_name=customer.first_name,
                                  store_name=store.name)
                 for field in COPY_OVERRIDE_FIELDS if config.get(field)}
    if overrides:
        context["copy_overrides"] = overrides
    outbound = outbound_email_create(
        store=store, customer=customer, kind=content.kind, context=context, scheduled_for=now,
        sequence_id=sequence.pk, idempotency_key=f"sequence-send:{send.pk}", enqueue=not deliver)
    if content.product_ids:
        recommended = list(dict.fromkeys([*(enrollment.recommended or []), *content.product_ids]))
        Enrollment.objects.filter(pk=enrollment.pk).update(recommended=recommended, updated_at=now)
        enrollment.recommended = recommended
    outcome = _finish(send, SS.DISPATCHED, "", now, outbound_id=outbound.pk, variant=variant)
    _next(send, now=now, policy=policy)
    return outcome


def _condition_failed(send: ScheduledSend, *, now: datetime) -> str:
    conditions = send.step.conditions or {}
    enrollment = send.enrollment
    if conditions.get("segment"):
        facts = customer_facts(store=send.store, customer_ids=[enrollment.customer_id], now=now)
        if not segment_matches(conditions["segment"], facts[enrollment.customer_id], now):
            return Reason.CONDITION_SEGMENT
    if "clicked" in conditions:
        clicked = clicked_since(store=send.store, customer_id=enrollment.customer_id,
                                since=enrollment.enrolled_at, now=now)
        if conditions["clicked"] and not clicked:
            return Reason.CONDITION_CLICKED
        if not conditions["clicked"] and clicked:
            return Reason.CONDITION_NOT_CLICKED
    if "bought_since" in conditions:
        # After the trigger (a purchase trigger's own order is placed at triggered_at).
        bought = orders_since(store=send.store, customer_id=enrollment.customer_id,
                              since=enrollment.triggered_at, now=now) > 0
        if conditions["bought_since"] and not bought:
            return Reason.CONDITION_BOUGHT
        if not conditions["bought_since"] and bought:
            return Reason.CONDITION_NOT_BOUGHT
    return ""


def _store_stop(store: Store, *, now: datetime) -> None:
    """The store is gone (uninstalled): cancel every pending send, end every enrolment."""
    ScheduledSend.objects.for_store(store).filter(status__in=[SS.SCHEDULED, SS.QUEUED]).update(
        status=SS.CANCELLED, reason=Reason.STORE_INACTIVE, finished_at=now, lease_expires_at=None,
        updated_at=now)
    Enrollment.objects.for_store(store).filter(status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.EXITED, exit_reason=Reason.STORE_INACTIVE, finished_at=now,
        updated_at=now)


# Editing from the admin --------------------------------------------------------------------------
# Editing sequences and steps (the admin API) ---------------------------------------------------

MAX_STEPS = 50
MAX_DELAY_MINUTES = 365 * 24 * 60
MAX_VARIANTS = 10
VARIANT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,20}$")  # ScheduledSend.variant holds 20 characters
VARIANT_FIELDS = frozenset({"key", "weight", "kind"})
CONDITION_FIELDS = frozenset({"segment", "clicked", "bought_since"})
SEQUENCE_EDITABLE = frozenset({"name", "status", "trigger_config", "audience", "exit_on", "priority",
                               "reenroll_days", "pause_after_click_hours", "max_hold_days"})
STEP_EDITABLE = frozenset({"position", "kind", "delay_minutes", "window_start_hour", "window_end_hour",
                           "conditions", "variants"})
_POSITION_SHIFT = 1000  # steps are moved out of the way before renumbering (position is unique)

_TYPES = ("product_types", "collections")
# What each trigger reads from ``trigger_config`` (triggers.py): key -> (type, minimum, maximum).
TRIGGER_CONFIG: dict[str, dict[str, tuple[str, float, float]]] = {
    Sequence.Trigger.FIRST_PURCHASE: {k: ("strings", 0, 100) for k in _TYPES},
    Sequence.Trigger.REPEAT_PURCHASE: {k: ("strings", 0, 100) for k in _TYPES},
    Sequence.Trigger.PRODUCT_PURCHASE: {k: ("strings", 0, 100) for k in _TYPES},
    Sequence.Trigger.ABANDONED_CHECKOUT: {"quiet_minutes": ("int", 1, 7 * 24 * 60)},
    Sequence.Trigger.ABANDONED_CART: {"quiet_minutes": ("int", 1, 7 * 24 * 60)},
    Sequence.Trigger.WISHLIST_ADD: {},
    Sequence.Trigger.REPEATED_BROWSE: {"min_views": ("int", 1, 100), "days": ("int", 1, 90)},
    Sequence.Trigger.CLICKED_NO_ORDER: {"wait_hours": ("number", 1, 30 * 24)},
    Sequence.Trigger.REPLENISHMENT_DUE: {"min_orders": ("int", 2, 100), "factor": ("number", 0.1, 10),
                                         "min_gap_days": ("number", 0, 365),
                                         "max_gap_days": ("int", 1, 730)},
    Sequence.Trigger.UPGRADE_ANNIVERSARY: {"days": ("int", 1, 5 * 365),
                                           "product_types": ("strings", 0, 100)},
    Sequence.Trigger.WIN_BACK: {"days": ("int", 1, 5 * 365)},
}
SEGMENT_LISTS = ("lifecycle", "rfm", "engagement", "affinity")
SEGMENT_NUMBERS = {"min_orders": "int", "max_orders": "int", "min_spent": "number"}


def field_error(field: str, message: str, **extra: Any) -> ValidationFailed:
    """A 400 in the API's field-error shape: ``extra.fields.<field>`` lists the messages."""
    return ValidationFailed(message, extra={"fields": {field: [message]}, **extra})


def _number(value: Any, kind: str) -> float | int | None:
    if isinstance(value, bool):
        return None
    if kind == "int":
        return value if isinstance(value, int) else None
    return value if isinstance(value, int | float) else None


def trigger_config_check(trigger: str, config: Any) -> dict[str, Any]:
    """The keys the trigger reads, each of the right type and range (a bad value would stop the
    store's trigger scan, which reads them with ``int()``/``float()``)."""
    if not isinstance(config, Mapping):
        raise field_error("trigger_config", "The trigger settings are an object.")
    spec = TRIGGER_CONFIG.get(trigger, {})
    unknown = sorted(set(config) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec)) or "none"
        raise field_error("trigger_config", f"Unknown settings for the {trigger} trigger: "
                                            f"{', '.join(unknown)} (allowed: {allowed}).")
    for key, value in config.items():
        kind, low, high = spec[key]
        if kind == "strings":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) \
                    or len(value) > high:
                raise field_error("trigger_config", f"{key} is a list of names.")
            continue
        number = _number(value, kind)
        if number is None or not low <= number <= high:
            what = "a whole number" if kind == "int" else "a number"
            raise field_error("trigger_config", f"{key} is {what} from {low:g} to {high:g}.")
    return dict(config)


def segment_check(spec: Any, field: str) -> dict[str, Any]:
    """A segment filter (``customers.segments``) with its values' types checked too."""
    if not isinstance(spec, Mapping):
        raise field_error(field, "A segment filter is an object.")
    for key in SEGMENT_LISTS:
        if key in spec and (not isinstance(spec[key], list)
                            or not all(isinstance(v, str) for v in spec[key])):
            raise field_error(field, f"{key} is a list of labels.")
    for key, kind in SEGMENT_NUMBERS.items():
        if key in spec:
            number = _number(spec[key], kind)
            if number is None or number < 0:
                raise field_error(field, f"{key} is a number of at least 0.")
    try:
        segment_filter_validate(spec)
    except ValueError as exc:
        raise field_error(field, str(exc).capitalize() + ".") from None
    return dict(spec)


def _variants_check(variants: Any) -> list[dict[str, Any]]:
    if not isinstance(variants, list) or len(variants) > MAX_VARIANTS:
        raise field_error("variants", f"Variants are a list of at most {MAX_VARIANTS}.")
    out, keys = [], set()
    for n, variant in enumerate(variants):
        if not isinstance(variant, Mapping):
            raise field_error("variants", f"Variant {n + 1} is not an object.")
        unknown = sorted(set(variant) - VARIANT_FIELDS)
        if unknown:
            raise field_error("variants", f"Variant {n + 1}: unknown fields {', '.join(unknown)}. A step "
                                          "variant is key, weight and optionally kind; subject "
                                          "lines are tested with an experiment (factor subject).")
        key = variant.get("key")
        if not isinstance(key, str) or not VARIANT_KEY.match(key):
            raise field_error("variants", f"Variant {n + 1}: the key is 1 to 20 letters, digits, "
                                          "- or _.")
        if key in keys:
            raise field_error("variants", f"Variant key {key!r} is used twice.")
        keys.add(key)
        weight = _number(variant.get("weight", 1), "int")
        if weight is None or not 0 <= weight <= 1000:
            raise field_error("variants", f"Variant {key!r}: the weight is 0 to 1000.")
        clean: dict[str, Any] = {"key": key, "weight": weight}
        if variant.get("kind") not in (None, ""):
            if variant["kind"] not in KINDS:
                raise field_error("variants", f"Variant {key!r}: unknown email kind "
                                              f"{variant['kind']!r}.")
            clean["kind"] = variant["kind"]
        out.append(clean)
    if out and not any(v["weight"] > 0 for v in out):
        raise field_error("variants", "At least one variant needs a weight above 0.")
    return out


def step_fields_check(fields: Mapping[str, Any]) -> dict[str, Any]:
    """One step's settings, whole (after a partial update is merged), checked field by field."""
    clean = dict(fields)
    if clean.get("kind") not in KINDS:
        raise field_error("kind", f"Unknown email kind {clean.get('kind')!r}.")
    delay = _number(clean.get("delay_minutes", 0), "int")
    if delay is None or not 0 <= delay <= MAX_DELAY_MINUTES:
        raise field_error("delay_minutes", f"The delay is 0 to {MAX_DELAY_MINUTES} minutes.")
    clean["delay_minutes"] = delay
    start, end = clean.get("window_start_hour"), clean.get("window_end_hour")
    for name, hour in (("window_start_hour", start), ("window_end_hour", end)):
        if hour is not None and (_number(hour, "int") is None or not 0 <= hour <= 23):
            raise field_error(name, "Hours are 0 to 23.")
    if (start is None) != (end is None):
        missing = "window_end_hour" if end is None else "window_start_hour"
        raise field_error(missing, "A send window needs both its start and its end hour.")
    if start is not None and start == end:
        raise field_error("window_end_hour", "A send window cannot start and end at the same hour.")
    conditions = clean.get("conditions") or {}
    if not isinstance(conditions, Mapping):
        raise field_error("conditions", "Conditions are an object.")
    unknown = sorted(set(conditions) - CONDITION_FIELDS)
    if unknown:
        raise field_error("conditions", f"Unknown conditions: {', '.join(unknown)} "
                                        "(allowed: segment, clicked, bought_since).")
    for flag in ("clicked", "bought_since"):
        if flag in conditions and not isinstance(conditions[flag], bool):
            raise field_error("conditions", f"{flag} is true or false.")
    if conditions.get("segment"):
        segment_check(conditions["segment"], "conditions")
    clean["conditions"] = dict(conditions)
    clean["variants"] = _variants_check(clean.get("variants") or [])
    return clean


def _sequence_locked(store: Store, sequence_id: int) -> Sequence:
    sequence = Sequence.objects.for_store(store).select_for_update().filter(pk=sequence_id).first()
    if sequence is None:
        raise NotFound("No such sequence.", extra={"sequence_id": sequence_id})
    return sequence


def _offer_refresh(sequence: Sequence, *, now: datetime) -> None:
    """``offer`` follows the steps (new enrolments copy it; running ones keep theirs)."""
    offer = any(s.kind in OFFER_KINDS or any(v.get("kind") in OFFER_KINDS for v in s.variants or ())
                for s in Step.objects.filter(sequence=sequence))
    if offer != sequence.offer:
        Sequence.objects.filter(pk=sequence.pk).update(offer=offer, updated_at=now)
        sequence.offer = offer


def _steps_renumber(sequence: Sequence, ordered_ids: Seq[int]) -> None:
    """Positions 1..n in this order: every step moved out of the way first, so the unique
    (store, sequence, position) never sees two steps on one position."""
    Step.objects.filter(sequence=sequence).update(position=F("position") + _POSITION_SHIFT)
    for n, pk in enumerate(ordered_ids, 1):
        Step.objects.filter(pk=pk).update(position=n)


def _step_ids(sequence: Sequence) -> list[int]:
    return list(Step.objects.filter(sequence=sequence).order_by("position", "pk")
                .values_list("pk", flat=True))


def _insert_at(ids: list[int], pk: int, position: int | None) -> list[int]:
    if position is None:
        return [*ids, pk]
    index = min(max(int(position), 1), len(ids) + 1) - 1
    return [*ids[:index], pk, *ids[index:]]


def _step_errors(n: int, exc: ValidationFailed) -> ValidationFailed:
    """A step's field error inside a list of steps: ``fields.steps["<n>"]`` (DRF's shape for
    nested lists: only the failing items, keyed by their index)."""
    item = dict(exc.extra.get("fields") or {"kind": [exc.message]})
    return ValidationFailed(exc.message, extra={"fields": {"steps": {str(n): item}}, "step": n})


def sequence_add(*, store: Store, key: str, name: str, trigger: str, steps: Seq[Mapping[str, Any]],
                 trigger_config: Mapping[str, Any] | None = None,
                 audience: Mapping[str, Any] | None = None, **settings_: Any) -> Sequence:
    """Create a sequence from the admin: every field checked with its name first (the API's
    field errors, the key's uniqueness included), then ``sequence_create``."""
    if not steps:
        raise field_error("steps", "A sequence needs at least one step.")
    if len(steps) > MAX_STEPS:
        raise field_error("steps", f"A sequence has at most {MAX_STEPS} steps.")
    if trigger not in Sequence.Trigger.values:
        raise field_error("trigger", f"Unknown trigger {trigger!r}.")
    checked = []
    for n, step in enumerate(steps):
        try:
            checked.append(step_fields_check({k: v for k, v in step.items() if k != "position"}))
        except ValidationFailed as exc:
            raise _step_errors(n, exc) from None
    config = trigger_config_check(trigger, trigger_config or {})
    audience = segment_check(audience or {}, "audience")
    if Sequence.objects.for_store(store).filter(key=key).exists():
        raise field_error("key", "Another sequence has this key.")
    try:
        with transaction.atomic():
            return sequence_create(store=store, key=key, name=name, trigger=trigger, steps=checked,
                                   trigger_config=config, audience=audience, **settings_)
    except IntegrityError:  # the same key, created concurrently
        raise field_error("key", "Another sequence has this key.") from None


def sequence_update(*, store: Store, sequence_id: int, now: datetime | None = None,
                    **fields: Any) -> Sequence:
    """Change a sequence's settings (``SEQUENCE_EDITABLE``). Pausing holds its due sends (they
    wait, up to ``max_hold_days``); archiving stops everything at the next send."""
    now = now or timezone.now()
    unknown = sorted(set(fields) - SEQUENCE_EDITABLE)
    if unknown:
        raise field_error(unknown[0], "This field cannot be changed.")
    if "name" in fields and not str(fields["name"] or "").strip():
        raise field_error("name", "A sequence needs a name.")
    if "status" in fields and fields["status"] not in Sequence.Status.values:
        raise field_error("status", f"Unknown status {fields['status']!r}.")
    if "exit_on" in fields and fields["exit_on"] not in Sequence.ExitOn.values:
        raise field_error("exit_on", f"Unknown exit rule {fields['exit_on']!r}.")
    for name, low, high in (("priority", -1000, 1000), ("reenroll_days", 0, 3650),
                            ("pause_after_click_hours", 0, 24 * 90), ("max_hold_days", 1, 365)):
        if name in fields:
            number = _number(fields[name], "int")
            if number is None or not low <= number <= high:
                raise field_error(name, f"{name} is a whole number from {low} to {high}.")
    if "audience" in fields:
        fields["audience"] = segment_check(fields["audience"] or {}, "audience")
    with transaction.atomic():
        sequence = _sequence_locked(store, sequence_id)
        if "trigger_config" in fields:
            fields["trigger_config"] = trigger_config_check(sequence.trigger,
                                                            fields["trigger_config"] or {})
        if fields:
            Sequence.objects.filter(pk=sequence.pk).update(**fields, updated_at=now)
        sequence.refresh_from_db()
    return sequence


def step_create(*, store: Store, sequence_id: int, kind: str, delay_minutes: int = 0,
                window_start_hour: int | None = None, window_end_hour: int | None = None,
                conditions: Mapping[str, Any] | None = None,
                variants: Seq[Mapping[str, Any]] | None = None, position: int | None = None,
                now: datetime | None = None) -> Step:
    """Add a step: at the end, or at ``position`` (1 = first; the steps after it move down).
    Enrolments already past that point do not go back for it."""
    now = now or timezone.now()
    clean = step_fields_check({"kind": kind, "delay_minutes": delay_minutes,
                               "window_start_hour": window_start_hour,
                               "window_end_hour": window_end_hour, "conditions": conditions or {},
                               "variants": list(variants or [])})
    if position is not None and (_number(position, "int") is None or position < 1):
        raise field_error("position", "Positions start at 1.")
    with transaction.atomic():
        sequence = _sequence_locked(store, sequence_id)
        ids = _step_ids(sequence)
        if len(ids) >= MAX_STEPS:
            raise ValidationFailed(f"A sequence has at most {MAX_STEPS} steps.")
        step = Step.objects.create(store=store, sequence=sequence, position=_POSITION_SHIFT - 1,
                                   created_at=now, updated_at=now, **clean)
        _steps_renumber(sequence, _insert_at(ids, step.pk, position))
        _offer_refresh(sequence, now=now)
        step.refresh_from_db()
    return step


def step_update(*, store: Store, sequence_id: int, step_id: int, now: datetime | None = None,
                **fields: Any) -> Step:
    """Change a step (``STEP_EDITABLE``); ``position`` moves it. Sends already scheduled for it
    keep their due time and pick up the new content when they go."""
    now = now or timezone.now()
    unknown = sorted(set(fields) - STEP_EDITABLE)
    if unknown:
        raise field_error(unknown[0], "This field cannot be changed.")
    position = fields.pop("position", None)
    if position is not None and (_number(position, "int") is None or position < 1):
        raise field_error("position", "Positions start at 1.")
    with transaction.atomic():
        sequence = _sequence_locked(store, sequence_id)
        step = Step.objects.filter(sequence=sequence, pk=step_id).first()
        if step is None:
            raise NotFound("No such step in this sequence.", extra={"step_id": step_id})
        current = {f: getattr(step, f) for f in STEP_EDITABLE - {"position"}}
        clean = step_fields_check({**current, **fields})
        changed = {k: v for k, v in clean.items() if k in fields}
        if changed:
            Step.objects.filter(pk=step.pk).update(**changed, updated_at=now)
        if position is not None:
            ids = [pk for pk in _step_ids(sequence) if pk != step.pk]
            _steps_renumber(sequence, _insert_at(ids, step.pk, position))
        _offer_refresh(sequence, now=now)
        step.refresh_from_db()
    return step


def step_delete(*, store: Store, sequence_id: int, step_id: int, now: datetime | None = None) -> int:
    """Remove a step. Enrolments waiting for it move on to the step after it (its delay counted
    from now) or complete; a send being made right now makes this a 409 (try again). Returns
    how many waiting enrolments moved on."""
    now = now or timezone.now()
    with transaction.atomic():
        sequence = _sequence_locked(store, sequence_id)
        step = Step.objects.filter(sequence=sequence, pk=step_id).first()
        if step is None:
            raise NotFound("No such step in this sequence.", extra={"step_id": step_id})
        ids = _step_ids(sequence)
        if len(ids) <= 1:
            raise ValidationFailed("A sequence needs at least one step: pause or archive it instead.")
        pending = list(ScheduledSend.objects.select_for_update()
                       .filter(step=step, status__in=(SS.SCHEDULED, SS.QUEUED))
                       .values_list("status", "enrollment_id"))
        if any(status == SS.QUEUED for status, _ in pending):
            raise Conflict("An email of this step is being sent right now: try again in a minute.",
                           extra={"step_id": step_id})
        following = (Step.objects.filter(sequence=sequence, position__gt=step.position)
                     .order_by("position").first())
        step.delete()
        _steps_renumber(sequence, [pk for pk in ids if pk != step_id])
        _offer_refresh(sequence, now=now)
        waiting = (Enrollment.objects.filter(pk__in=[e for _, e in pending],
                                             status=Enrollment.Status.ACTIVE)
                   .select_related("customer"))
        policy = policy_for(store)
        moved = 0
        for enrollment in waiting:
            moved += 1
            if following is None:
                Enrollment.objects.filter(pk=enrollment.pk, status=Enrollment.Status.ACTIVE).update(
                    status=Enrollment.Status.COMPLETED, finished_at=now, updated_at=now)
                continue
            step_schedule(enrollment=enrollment, step=following, base=now, store=store,
                          customer=enrollment.customer, policy=policy)
    return moved


# Previews and test sends (nothing recorded: no enrolment, no send, no code, no cap) ---------------

@dataclass(frozen=True, slots=True)
class PreviewContent:
    kind: str  # what would be sent (a fallback kind when the step's own has no content)
    variant: str
    context: dict[str, Any] | None  # None: the step would be skipped for this customer
    product_ids: tuple[str, ...] = ()
    note: str = ""


def step_variants(step: Step) -> list[str]:
    return [str(v["key"]) for v in step.variants or () if v.get("key")] or ["a"]


def _preview_facts(store: Store, sequence: Sequence, customer: Customer) -> dict[str, Any]:
    """What the customer's latest event of the sequence's trigger would have recorded."""
    trigger = sequence.trigger
    if trigger in CHECKOUT_TRIGGERS:
        kind = "checkout" if trigger == Sequence.Trigger.ABANDONED_CHECKOUT else "cart"
        checkout = (Checkout.objects.for_store(store).filter(customer=customer, kind=kind)
                    .order_by("-source_updated_at", "-pk").first())
        if checkout is not None:
            products = list(dict.fromkeys(ln.get("product_external_id") for ln in checkout.lines or ()
                                          if ln.get("product_external_id")))
            return {"checkout": checkout.external_id, "products": products,
                    "recovery_url": checkout.recovery_url}
    if trigger in (Sequence.Trigger.REPEATED_BROWSE, Sequence.Trigger.WISHLIST_ADD):
        kind = (ActivityEvent.Kind.BROWSE if trigger == Sequence.Trigger.REPEATED_BROWSE
                else ActivityEvent.Kind.WISHLIST_ADD)
        event = (ActivityEvent.objects.for_store(store).filter(customer=customer, kind=kind)
                 .select_related("product").order_by("-occurred_at", "-pk").first())
        if event is not None:
            return {"products": [event.product.external_id]}
    order = (Order.objects.for_store(store).filter(customer=customer, cancelled_at__isnull=True)
             .order_by("-placed_at", "-pk").first())
    if order is None:
        return {"products": []}
    lines = (OrderLine.objects.for_store(store).filter(order=order).order_by("pk")
             .values_list("product_external_id", "product__external_id"))
    products = list(dict.fromkeys(ext or linked for ext, linked in lines if ext or linked))
    return {"order": order.external_id, "products": products}


def step_preview_content(*, store: Store, step: Step, customer: Customer, variant: str | None = None,
                         now: datetime | None = None) -> PreviewContent:
    """What ``step`` would say to ``customer`` now, as its send would pick it (the customer's
    latest trigger event, fresh recommendations, bundles and the incentive rules), without
    writing anything: an incentive shows its terms with a placeholder code (the real code is
    issued on the platform only when the email is sent)."""
    now = now or timezone.now()
    keys = step_variants(step)
    if variant is None:
        variant = variant_for(step, customer.pk)
    elif variant not in keys:
        raise field_error("variant", f"This step's variants are {', '.join(keys)}.")
    kind = _variant_kind(step, variant)
    sequence = step.sequence
    enrollment = Enrollment(store=store, sequence=sequence, customer=customer, trigger_key="preview",
                            triggered_at=now, enrolled_at=now, recommended=[],
                            facts=_preview_facts(store, sequence, customer))
    build = content_builder()
    if kind == Kind.INCENTIVE:
        decision = incentive_for_customer(store=store, customer_id=customer.pk,
                                          step=step.position - 1, now=now, enrolled_at=now)
        if decision.option is not None:
            incentive = Incentive.objects.for_store(store).get(pk=decision.option.id)
            shown = build(store=store, customer=customer, enrollment=enrollment, step=step,
                          kind=Kind.FOLLOWUP, variant=variant, now=now)
            ends = code_ends_at(now=now, valid_for=timedelta(hours=incentive.code_valid_hours),
                                window_ends_at=incentive.ends_at)
            context = {"incentive": incentive_snapshot(code=f"{incentive.code_prefix}-PREVIEW",
                                                       expires_at=ends, headline=incentive.name),
                       "products": list((shown.context if shown else {}).get("products", []))[:3]}
            return PreviewContent(Kind.INCENTIVE, variant, context,
                                  shown.product_ids[:3] if shown else (),
                                  note="The code is a placeholder: a real one is issued when the "
                                       "email is sent (if the margin floor allows it).")
    content = build(store=store, customer=customer, enrollment=enrollment, step=step, kind=kind,
                    variant=variant, now=now)
    if content is None:
        return PreviewContent(kind, variant, None,
                              note="With this customer's data the step has no content and would "
                                   "be skipped.")
    note = "" if content.kind == kind else (
        f"No {kind} content for this customer: the step would send a {content.kind} email.")
    return PreviewContent(content.kind, variant, dict(content.context), tuple(content.product_ids),
                          note)


def step_test_send(*, store: Store, to: str, rendered: RenderedEmail,
                   now: datetime | None = None) -> TestSendResult:
    """Send a rendered step to ``to`` (the merchant) through the store's mailer, marked
    ``[Test]``. Nothing is recorded: no enrolment, no OutboundEmail (so no cap counts it), no
    daily count; the mailer's own test status is left alone."""
    return rendered_test_send(store=store, to=to, rendered=rendered, now=now)
