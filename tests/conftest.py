from decimal import Decimal

import pytest

from tests.factories import StoreFactory


@pytest.fixture(autouse=True)
def _no_default_holdout(settings):
    """Tests follow treated customers unless they measure holdouts: those set a share (a store's
    ``HoldoutPolicy``) or ask for the product default with the ``product_holdout`` fixture."""
    settings.XSELL_HOLDOUT_SHARE = Decimal("0")


@pytest.fixture
def product_holdout(settings):
    """The product's default holdout share (10 %), as a store that sets none gets it."""
    settings.XSELL_HOLDOUT_SHARE = Decimal("0.10")


@pytest.fixture
def store(db):
    return StoreFactory(domain="first-shop.myshopify.com", name="First Shop")


@pytest.fixture
def other_store(db):
    """Every tenant test has a second store whose data must never leak."""
    return StoreFactory(domain="second-shop.myshopify.com", name="Second Shop")
