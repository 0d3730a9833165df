"""OpenAPI description of our authentication (drf-spectacular extension, loaded in ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StoreSessionScheme(OpenApiAuthenticationExtension):
    target_class = "xsell_plugin.dashboard.auth.StoreSessionAuthentication"
    name = "storeSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "Session opened by a signed login link at /app/?login=<token>."}
