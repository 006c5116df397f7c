"""ASGI entry point: HTTP through Django, websockets through Channels (session auth).

Customer chat sockets (``/ws/chat/``) come from pages of other sites: they skip the host
check and session auth of the console's sockets and check their connection's origin
allow-list and visitor token themselves.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from channels_hub.routing import (  # noqa: E402
    customer_websocket_urlpatterns,
    websocket_urlpatterns,
)

staff_websockets = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
customer_websockets = URLRouter(customer_websocket_urlpatterns)


async def websockets(scope: dict[str, Any], receive: Any, send: Any) -> None:
    app = customer_websockets if scope["path"].startswith("/ws/chat/") else staff_websockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})
