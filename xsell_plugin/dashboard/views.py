from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from xsell_plugin.core.exceptions import ApplicationError
from xsell_plugin.dashboard.auth import SESSION_KEY, store_from_login_token, store_from_session
from xsell_plugin.stores import selectors


@require_GET
@ensure_csrf_cookie  # the admin's API writes send it back as X-CSRFToken
def app_shell(request):
    """The embedded admin's shell. ``?login=<signed token>`` opens a session for that store."""
    token = request.GET.get("login")
    if token:
        try:
            store = store_from_login_token(token)
        except ApplicationError as exc:
            return render(request, "dashboard/login_required.html", {"error": exc.message},
                          status=exc.status_code)
        request.session.cycle_key()
        request.session[SESSION_KEY] = store.pk
        return HttpResponseRedirect(request.path)
    store = store_from_session(request)
    if store is None:
        return render(request, "dashboard/login_required.html", {}, status=401)
    return render(request, "dashboard/app.html",
                  {"store": store, "counts": selectors.store_counts(store=store)})
