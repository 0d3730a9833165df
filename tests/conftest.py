import pytest

from tests.factories import StoreFactory


@pytest.fixture
def store(db):
    return StoreFactory(domain="first-shop.myshopify.com", name="First Shop")


@pytest.fixture
def other_store(db):
    """Every tenant test has a second store whose data must never leak."""
    return StoreFactory(domain="second-shop.myshopify.com", name="Second Shop")
