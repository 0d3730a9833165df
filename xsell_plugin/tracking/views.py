"""Public pages reached from emails: clicks, the open pixel, one-click unsubscribe (RFC 8058)
and the preference page. No login: the signed token is the authority, and a bad or tampered
token is a 404 (never a redirect anywhere)."""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from xsell_plugin.core.exceptions import NotFound, TokenInvalid, ValidationFailed
from xsell_plugin.tracking import services

_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
ONE_CLICK = "One-Click"


@never_cache
@require_GET
def click(request, token: str):
    try:
        url = services.click_record(token=token)
    except TokenInvalid:
        raise Http404 from None
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_GET
def open_pixel(request, token: str):
    try:
        services.open_record(token=token)
    except TokenInvalid:
        raise Http404 from None
    return HttpResponse(_GIF, content_type="image/gif")


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET: a confirmation page with one button. POST ``List-Unsubscribe=One-Click`` (what mail
    clients send, RFC 8058; the button sends the same): unsubscribed at once, 200, no redirect."""
    try:
        if request.method == "GET":
            recipient = services.unsubscribe_target(token)
            return render(request, "tracking/unsubscribe.html",
                          {"store": recipient.store, "token": token})
        if request.POST.get("List-Unsubscribe") != ONE_CLICK:
            return HttpResponseBadRequest("Expected List-Unsubscribe=One-Click.")
        recipient = services.unsubscribe_by_token(token=token)
    except TokenInvalid:
        raise Http404 from None
    return render(request, "tracking/unsubscribed.html", {"store": recipient.store})


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def preferences(request, token: str):
    done = ""
    try:
        if request.method == "POST":
            action = request.POST.get("action", "")
            recipient = services.preference_apply(token=token, action=action)
            done = action
        else:
            recipient = services.preferences_target(token)
    except (TokenInvalid, NotFound):
        raise Http404 from None
    except ValidationFailed as exc:
        return HttpResponseBadRequest(exc.message)
    customer = recipient.customer
    pref = getattr(customer, "preference", None) if customer is not None else None
    if pref is not None:
        pref.refresh_from_db()
    return render(request, "tracking/preferences.html", {
        "store": recipient.store, "token": token, "done": done, "preference": pref,
        "in_sequence": recipient.sequence_id is not None,
        "subscribed": (customer is not None and customer.consent_state == "subscribed"
                       and done != "unsubscribe"),
    })
