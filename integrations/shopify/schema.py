"""OpenAPI description of the session-token authentication (drf-spectacular, loaded in ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ShopifySessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.shopify.auth.ShopifySessionTokenAuthentication"
    name = "shopifySessionToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "App Bridge session token of the embedded Shopify admin."}
