"""The organisation's channels (org admins), mounted at /channels/."""

from django.urls import path

from . import channel_settings as views

app_name = "channel_settings"

urlpatterns = [
    path("", views.channel_list, name="list"),
    path("new/", views.channel_new, name="new"),
    path("new/<slug:kind>/", views.channel_create, name="create"),
    path("<int:pk>/", views.channel_edit, name="edit"),
    path("<int:pk>/enable/", views.channel_enable_again, name="enable"),
    path("<int:pk>/webhook/", views.channel_register_webhook, name="register_webhook"),
    path("<int:pk>/webhook/status/", views.channel_webhook_status, name="webhook_status"),
]
