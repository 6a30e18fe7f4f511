"""In-app chat pages: customers with their manager (portal), technicians with the office."""

from django.urls import path

from . import chat_views

app_name = "chat"

urlpatterns = [
    path("", chat_views.customer_chat, name="messages"),
    path("office/", chat_views.office_chat, name="office"),
    path("thread/", chat_views.thread, name="thread"),
]
