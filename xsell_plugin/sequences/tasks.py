"""django-q2 entry points (arguments are ids): the per-minute trigger scan and dispatcher, and
the send task each claimed ScheduledSend gets."""

from __future__ import annotations

from xsell_plugin.sequences.dispatch import dispatch_due
from xsell_plugin.sequences.services import send_step as send_step_service
from xsell_plugin.sequences.triggers import triggers_scan_all


def scan() -> dict[str, int]:
    """Every minute: enrolments from what changed since each store's checkpoint."""
    return triggers_scan_all()


def dispatch() -> dict[str, int]:
    """Every minute: claim due sends in batches and enqueue ``send_step`` for each."""
    result = dispatch_due()
    return {"claimed": result.claimed, "reclaimed": result.reclaimed, "enqueued": result.enqueued}


def send_step(scheduled_id: int) -> str:
    """Send one step; delivered twice, it acts once."""
    return send_step_service(scheduled_id).status
