from django.urls import path

from . import views

app_name = "onboarding"

urlpatterns = [
    path("", views.application_list, name="list"),
    path("new/", views.application_new, name="new"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path("<uuid:public_id>/", views.application_detail, name="detail"),
    path("<uuid:public_id>/approve/", views.application_approve, name="approve"),
    path("<uuid:public_id>/reject/", views.application_reject, name="reject"),
    path("<uuid:public_id>/ask/", views.application_ask, name="ask"),
    path("<uuid:public_id>/fix-number/", views.application_fix_number, name="fix_number"),
    path("<uuid:public_id>/send-link/", views.application_send_link, name="send_link"),
    path("<uuid:public_id>/take-over/", views.application_take_over, name="take_over"),
    path("<uuid:public_id>/documents/<int:pk>/", views.document, name="document"),
]
