"""The OpenAPI schema validates (drf-spectacular --validate) and schemathesis finds no 500 in
any operation, in-process against the WSGI app with an authenticated session (and its CSRF
token, so writes are exercised too)."""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.dashboard.conftest import client_for
from xsell_plugin.wsgi import application


def test_schema_validates(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/reports/summary" in (tmp_path / "schema.yaml").read_text()


schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def session_cookies(store):
    """The store's session and CSRF cookies. Like Django's test client, keep the request signals
    from closing the database connection (it holds the test's transaction on PostgreSQL)."""
    client = client_for(store)  # (the test client reconnects the signals when it is done)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"sessionid": client.cookies["sessionid"].value, "csrftoken": client.cookies["csrftoken"].value}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, session_cookies):
    # Authenticated for real, writes included: schemathesis fills the documented security schemes
    # itself (an empty ``sessionid`` cookie, an empty bearer token), which would only ever reach
    # the authentication layer; replace them with the store's session and its CSRF token.
    case.cookies = dict(session_cookies)
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call(headers={"X-CSRFToken": session_cookies["csrftoken"]})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
