"""Who may be emailed: the consent policy (docs/sequences.md, "Consent").

A customer is contactable when they have an address, it is not on the store's suppression list,
and either the platform says they subscribed (``SUBSCRIBED``) or the store turned on its soft
opt-in policy (``SequenceSettings.soft_opt_in``, off by default) and the customer's consent is
``UNKNOWN`` (WooCommerce records none) and they bought from the store: the existing-customer
basis soft opt-in rests on. Anything else (not subscribed, unsubscribed, pending double opt-in,
redacted) is never contacted. Checked when enrolling and again at send time; the emails send
path re-checks consent and suppression once more (``emails.services.skip_reason``).
"""

from __future__ import annotations

from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.orders.models import Order
from xsell_plugin.sequences.models import SequenceSettings
from xsell_plugin.stores.models import Store


def contact_block_reason(*, consent_state: str, has_email: bool, suppressed: bool,
                         soft_opt_in: bool, has_ordered: bool) -> str:
    """Why this customer may not be emailed ("" when they may). Pure."""
    if not has_email:
        return "no_email"
    if suppressed:
        return "suppressed"
    if consent_state == ConsentState.SUBSCRIBED:
        return ""
    if consent_state == ConsentState.UNKNOWN and soft_opt_in and has_ordered:
        return ""
    return f"consent_{consent_state}"


def soft_opt_in_enabled(store: Store) -> bool:
    return SequenceSettings.objects.for_store(store).filter(soft_opt_in=True).exists()


def soft_opt_in_allows(store: Store, customer: Customer) -> bool:
    """The store's soft opt-in covers this customer (consent unknown, store policy on, has
    ordered). Used by the emails send path's own consent re-check."""
    return (customer.consent_state == ConsentState.UNKNOWN and soft_opt_in_enabled(store)
            and Order.objects.for_store(store).filter(customer=customer).exists())
