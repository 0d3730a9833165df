"""Signed links at the URL level (``core.tokens`` is unit-tested in tests/core/test_tokens.py):
every link a message carries is tamper-proof, bound to its purpose and to the key that signed it,
and expires as documented: clicks after 400 days, login links after 12 hours, unsubscribe and
preference links never (an old email must still let people leave)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing
from django.test import Client, override_settings
from django.utils import timezone

from emails.kinds import Kind
from emails.models import OutboundEmail
from emails.services import email_send
from tests.emails.helpers import create, list_unsubscribe_https, parts
from tests.emails.helpers import customer as customer
from tests.emails.helpers import mailbox as mailbox
from tests.emails.helpers import shop as shop
from tests.emails.helpers import smtp_server as smtp_server
from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.dashboard.auth import login_token_for
from xsell_plugin.tracking import links
from xsell_plugin.tracking.models import Click

pytestmark = pytest.mark.django_db
CLICK = re.compile(r'href="(https://app\.xsell\.test/t/c/[^"]+)"')


@pytest.fixture(autouse=True)
def _public(settings):
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.ALLOWED_HOSTS = ["testserver", "app.xsell.test"]
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_EMAIL_OPEN_PIXEL = True


def _links(shop, customer, mailbox) -> dict[str, str]:
    outbound = create(shop, customer, Kind.COMPLEMENTS, sequence_id=5)
    assert email_send(outbound.pk).status == OutboundEmail.Status.SENT
    message = mailbox.parsed()[-1]
    _, html = parts(message)
    unsubscribe = urlsplit(list_unsubscribe_https(message)).path
    preference = re.search(r'href="https://app\.xsell\.test(/p/[^"]+)"', html).group(1)
    pixel = re.search(r'src="https://app\.xsell\.test(/t/o/[^"]+)"', html).group(1)
    return {"click": urlsplit(CLICK.search(html).group(1)).path, "unsubscribe": unsubscribe,
            "preferences": preference, "open": pixel}


def _get(path: str):
    return Client().get(path)


def test_every_link_of_a_message_works_as_sent(shop, customer, mailbox):
    paths = _links(shop, customer, mailbox)
    assert _get(paths["click"]).status_code == 302
    assert _get(paths["open"]).status_code == 200
    assert _get(paths["unsubscribe"]).status_code == 200
    assert _get(paths["preferences"]).status_code == 200


@pytest.mark.parametrize("position", [0, 5, -3, "middle"])
def test_one_flipped_character_anywhere_is_a_404(shop, customer, mailbox, position):
    paths = _links(shop, customer, mailbox)
    for name, path in paths.items():
        prefix, token = path.rsplit("/", 1)
        index = {"middle": len(token) // 2}.get(position, position)
        flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1:][:len(token)]
        if index == -1:
            flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert _get(f"{prefix}/{flipped}").status_code == 404, name
        assert _get(f"{prefix}/{token[:-4]}").status_code == 404, name  # truncated
    assert not Click.objects.exists()


def test_a_token_is_only_good_for_its_own_route(shop, customer, mailbox):
    paths = _links(shop, customer, mailbox)
    tokens = {name: path.rsplit("/", 1)[1] for name, path in paths.items()}
    routes = {"click": "/t/c/", "open": "/t/o/", "unsubscribe": "/u/", "preferences": "/p/"}
    for name, token in tokens.items():
        for other, route in routes.items():
            if other != name:
                assert _get(route + token).status_code == 404, (name, other)
    login = login_token_for(shop)
    for route in routes.values():
        assert _get(route + login).status_code == 404


def test_a_link_signed_with_another_secret_key_is_refused(shop, customer, mailbox):
    with override_settings(SECRET_KEY="another-deployment-" + "x" * 40):
        forged = links.click_url(store_id=shop.pk, outbound_id=1, position=0)
        forged_unsub = links.unsubscribe_url(store_id=shop.pk, customer_id=customer.pk, outbound_id=None)
    assert _get(urlsplit(forged).path).status_code == 404
    assert Client().post(urlsplit(forged_unsub).path,
                         data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.SUBSCRIBED


def test_payloads_of_the_wrong_shape_are_refused_even_when_signed(shop, customer, mailbox):
    """A correctly signed token whose payload is not what the route expects (a forged id type, a
    negative id, a bool, extra fields) is a 404, never a 500."""
    for payload in ([shop.pk, True, 0], [shop.pk, -1, 0], [shop.pk, "1", 0], [shop.pk, 1], {"store": shop.pk},
                    [shop.pk, 1, 0, 9], None, [[shop.pk], 1, 0]):
        token = signing.dumps(payload, salt="xsell.token." + links.CLICK, compress=True)
        assert _get(f"/t/c/{token}").status_code == 404, payload
        token = signing.dumps(payload, salt="xsell.token." + links.UNSUBSCRIBE, compress=True)
        assert Client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_click_links_expire_after_400_days_unsubscribe_and_preferences_never(shop, customer, mailbox):
    paths = _links(shop, customer, mailbox)
    with time_machine.travel(timezone.now() + timedelta(days=399)):
        assert _get(paths["click"]).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(days=401)):
        assert _get(paths["click"]).status_code == 404
        assert _get(paths["open"]).status_code == 404
    with time_machine.travel(timezone.now() + timedelta(days=3650)):
        assert _get(paths["preferences"]).status_code == 200
        answer = Client().post(paths["unsubscribe"], data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.UNSUBSCRIBED


def test_login_links_expire_after_12_hours_and_are_bound_to_their_store(shop):
    token = login_token_for(shop)
    with time_machine.travel(timezone.now() + timedelta(hours=11, minutes=59)):
        client = Client()
        assert client.get(f"/app/?login={token}").status_code == 302
        assert client.get("/api/v1/store").json()["id"] == shop.pk
    with time_machine.travel(timezone.now() + timedelta(hours=12, minutes=1)):
        assert Client().get(f"/app/?login={token}").status_code in (401, 404)
    unsubscribe = links.unsubscribe_token(store_id=shop.pk, customer_id=1, outbound_id=None)
    assert Client().get(f"/app/?login={unsubscribe}").status_code == 404  # another purpose
