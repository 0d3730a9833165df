"""Tasks (arguments are ids): the send task and the per-minute sweeper."""

from __future__ import annotations

import logging

from emails.services import email_send, outbound_sweep

logger = logging.getLogger(__name__)


def send(outbound_id: int) -> str:
    """Send one outbound email; delivered twice, it sends once."""
    return email_send(outbound_id).status


def sweep() -> dict[str, int]:
    """Every minute: expired leases (unknown or re-enqueued), due retries, and the count of
    sends whose outcome is unknown (logged as a warning while there are any)."""
    counts = outbound_sweep()
    if counts["unknown_total"]:
        logger.warning("emails: %s sends have an unknown outcome (not resent)", counts["unknown_total"])
    return counts
