import pytest
from django.test import Client

from xsell_plugin.dashboard.auth import login_token_for


def client_for(store) -> Client:
    """A browser session opened by the store's signed login link."""
    client = Client()
    response = client.get(f"/app/?login={login_token_for(store)}")
    assert response.status_code == 302
    return client


@pytest.fixture
def api(store):
    return client_for(store)


@pytest.fixture
def other_api(other_store):
    return client_for(other_store)


@pytest.fixture(scope="session")
def demo_db(django_db_setup, django_db_blocker):
    """The demo store (real Complete Journey orders, 120 households), loaded once."""
    from xsell_plugin.demo.services import demo_store_load

    with django_db_blocker.unblock():
        result = demo_store_load(limit_households=120)
    return result.store.pk
