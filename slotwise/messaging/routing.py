"""WebSocket routes of messaging (wired into `slotwise.asgi`)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/inbox/", consumers.InboxConsumer.as_asgi()),
    path("ws/conversations/<uuid:public_id>/", consumers.ConversationConsumer.as_asgi()),
]
