import pytest

from integrations.base import Platform
from integrations.exceptions import PlatformNotConfigured
from integrations.registry import get_platform
from tests.factories import StoreFactory


class RecordingPlatform:
    """A platform implementation defined by the test (the registry is what is under test)."""

    name = "test"

    def __init__(self, store):
        self.store = store

    def verify_credentials(self): ...
    def register_webhooks(self): ...
    def iter_products(self, *, cursor=None, updated_since=None): return iter(())
    def iter_customers(self, *, cursor=None, updated_since=None): return iter(())
    def iter_orders(self, *, cursor=None, updated_since=None): return iter(())
    def create_discount_code(self, request): ...
    def cart_url(self, lines, *, discount_code=""): return ""
    def update_marketing_consent(self, *, customer_external_id, email, state): ...
    def handle_webhook(self, topic, payload, *, triggered_at=None): return True


@pytest.mark.django_db
def test_platform_by_import_string(settings):
    settings.XSELL_PLATFORMS = {"shopify": f"{__name__}.RecordingPlatform"}
    store = StoreFactory(platform="shopify")
    platform = get_platform(store)
    assert isinstance(platform, RecordingPlatform) and isinstance(platform, Platform)
    assert platform.store == store


@pytest.mark.django_db
def test_unconfigured_platforms_are_typed_errors(settings):
    settings.XSELL_PLATFORMS = {"shopify": "integrations.shopify.nope.Missing"}
    with pytest.raises(PlatformNotConfigured, match="cannot be imported"):
        get_platform(StoreFactory(platform="shopify"))
    with pytest.raises(PlatformNotConfigured, match="no platform client"):
        get_platform(StoreFactory(platform="demo"))
