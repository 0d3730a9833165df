"""Background work for tracking (arguments are ids; each task re-reads its rows)."""

from __future__ import annotations

import logging

from integrations.base import ConsentState
from integrations.exceptions import PlatformNotConfigured, RetryablePlatformError
from integrations.registry import get_platform
from xsell_plugin.customers.models import Customer

logger = logging.getLogger(__name__)


def consent_push(customer_id: int) -> str:
    """Tell the store's platform that this customer unsubscribed (best effort: our own consent
    and suppression rows already stop every send). Retryable platform errors re-raise, so the
    broker tries again; stores without a platform client (the demo) are skipped."""
    customer = Customer.objects.select_related("store").filter(pk=customer_id).first()
    if customer is None or customer.consent_state != ConsentState.UNSUBSCRIBED:
        return "nothing to do"
    try:
        platform = get_platform(customer.store)
    except PlatformNotConfigured:
        return "no platform client"
    try:
        platform.update_marketing_consent(customer_external_id=customer.external_id,
                                          email=customer.email, state=ConsentState.UNSUBSCRIBED)
    except RetryablePlatformError:
        raise
    except Exception:
        logger.exception("consent push failed for customer %s", customer_id)
        return "failed"
    return "pushed"
