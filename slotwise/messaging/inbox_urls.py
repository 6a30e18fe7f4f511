"""The staff inbox (mounted at /inbox/): the list, one conversation and its actions, and
attachments served to those who may see them."""

from django.urls import path

from . import inbox_views as views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox, name="list"),
    path("c/<uuid:public_id>/", views.conversation_page, name="conversation"),
    path("c/<uuid:public_id>/live/", views.conversation_live, name="conversation_live"),
    path("c/<uuid:public_id>/reply/", views.reply, name="reply"),
    path("c/<uuid:public_id>/note/", views.note, name="note"),
    path("c/<uuid:public_id>/template/", views.send_template, name="send_template"),
    path("c/<uuid:public_id>/assign/", views.assign, name="assign"),
    path("c/<uuid:public_id>/take-over/", views.take_over, name="take_over"),
    path("c/<uuid:public_id>/hand-back/", views.hand_back, name="hand_back"),
    path("c/<uuid:public_id>/close/", views.close, name="close"),
    path("c/<uuid:public_id>/reopen/", views.reopen, name="reopen"),
    path("attachments/<uuid:public_id>/", views.attachment, name="attachment"),
]
