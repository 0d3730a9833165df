"""Typed offer errors (one ApplicationError family)."""

from __future__ import annotations

from xsell_plugin.core.exceptions import ApplicationError, Conflict


class IncentiveUnavailable(Conflict):
    code = "incentive_unavailable"
    default_message = "This incentive is paused or outside its time window."


class IncentiveNotIssuable(ApplicationError):
    code = "incentive_not_issuable"
    status_code = 400
    default_message = "This kind of incentive cannot be issued as a code on this platform."


class IncentiveCapReached(Conflict):
    code = "incentive_cap_reached"
    default_message = "The incentive's cap is reached."


class MarginFloorBreached(ApplicationError):
    code = "margin_floor_breached"
    status_code = 400
    default_message = "The incentive would take the margin below the store's floor."
