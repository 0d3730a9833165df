"""``POST /webhooks/mailer/<store_id>/<esp>/``: the store's ESP reports bounces, complaints and
unsubscribes. Verified with the store's own webhook secret through anymail's tracking-webhook
view for that ESP (its validators and parser, not its global signal), then applied once per
event id to the store's suppression list."""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from emails.esp import ESPS, webhook_view
from emails.models import MailerAccount
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking.services import mailer_events_apply

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["POST", "HEAD"])
def mailer_webhook(request, store_id: int, esp: str):
    spec = ESPS.get(esp)
    store = Store.objects.filter(pk=store_id).first()
    if spec is None or store is None:
        raise Http404
    account = (MailerAccount.objects.for_store(store)
               .filter(transport=MailerAccount.Transport.ESP, esp=esp).first())
    if account is None or not account.webhook_secret:
        raise Http404
    if request.method == "HEAD":  # some ESPs probe the URL when it is configured
        return HttpResponse()
    try:
        view = webhook_view(spec, account.webhook_secret)
        view.run_validators(request)
        events = view.parse_events(request)
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE: refused, not "unverified"
        return HttpResponse("Payload too large", status=413)
    except (AnymailWebhookValidationFailure, SuspiciousOperation):
        logger.warning("mailer webhook: verification failed (store %s, %s)", store.pk, esp)
        return HttpResponseBadRequest("webhook verification failed")
    except (AnymailError, ValueError, KeyError) as exc:
        logger.warning("mailer webhook: unreadable payload (store %s, %s): %s", store.pk, esp,
                       type(exc).__name__)
        return HttpResponseBadRequest("unreadable payload")
    counts = mailer_events_apply(store=store, esp=esp, events=events)
    return JsonResponse(counts)
