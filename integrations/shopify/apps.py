from django.apps import AppConfig


class ShopifyConfig(AppConfig):
    name = "integrations.shopify"
    label = "shopify"
    verbose_name = "Shopify"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.shopify import schema  # noqa: F401 (registers the OpenAPI extension)
