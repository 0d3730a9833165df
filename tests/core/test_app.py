"""/healthz, the admin shell's signed login link, and the store API's tenancy."""

import pytest
from django.test import Client

from xsell_plugin.dashboard.auth import login_token_for
from xsell_plugin.stores.models import Store

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_login_link_opens_a_session_for_that_store_only(store, other_store):
    client = Client()
    response = client.get(f"/app/?login={login_token_for(store)}")
    assert (response.status_code, response["Location"]) == (302, "/app/")
    page = client.get("/app/")
    assert page.status_code == 200
    assert b"First Shop" in page.content and b"Second Shop" not in page.content

    api = client.get("/api/v1/store")
    assert api.status_code == 200
    assert api.json()["id"] == store.pk


def test_bad_or_missing_login(store):
    client = Client()
    assert client.get("/app/?login=forged").status_code == 404
    assert client.get("/app/").status_code == 401
    response = client.get("/api/v1/store")
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"code", "message", "extra"}


def test_uninstalled_store_cannot_log_in(store):
    token = login_token_for(store)
    Store.objects.filter(pk=store.pk).update(status=Store.Status.UNINSTALLED)
    assert Client().get(f"/app/?login={token}").status_code == 401


def test_schema_is_served():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/store" in response.content


def test_session_writes_need_the_csrf_token(store):
    client = Client(enforce_csrf_checks=True)
    client.get(f"/app/?login={login_token_for(store)}")
    assert client.get("/api/v1/store").status_code == 200  # reads need no token
    forged = client.put("/api/v1/mailer", data="{}", content_type="application/json")
    assert forged.status_code == 403
    assert forged.json()["code"] == "permission_denied"
    page = client.get("/app/")  # the admin page hands out the token
    token = client.cookies["csrftoken"].value
    assert b'name="csrf-token" content="' in page.content
    allowed = client.put("/api/v1/mailer", data="{}", content_type="application/json",
                         headers={"X-CSRFToken": token})
    assert allowed.status_code != 403
