"""OpenAPI description of the API-key authentication (registered on import)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "omniservice.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "osk_<prefix>_<secret>",
            "description": "A partner API key created with `manage.py create_api_key`.",
        }
