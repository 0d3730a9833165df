import pytest

from tests.factories import StoreFactory
from tests.sequences.helpers import CONTENT, Engine, product
from xsell_plugin.experiments.services import holdout_policy_set


@pytest.fixture(autouse=True)
def _sequence_settings(settings):
    settings.XSELL_SEQUENCE_CONTENT = CONTENT
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.XSELL_EMAIL_OPEN_PIXEL = False


@pytest.fixture
def shop(db):
    store = StoreFactory(domain="seq-shop.myshopify.com", name="Seq Shop", timezone="America/New_York")
    # These tests follow the flows of treated customers; tests/sequences/test_holdout.py the rest.
    holdout_policy_set(store=store, share="0")
    for ext in ("p1", "p2", "p3"):
        product(store, ext)
    return store


@pytest.fixture
def engine(shop):
    return Engine(shop)
