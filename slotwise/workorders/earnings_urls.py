"""URL patterns of the earnings pages (joined into the "workorders" namespace by urls.py)."""

from django.urls import path

from . import earnings_views

urlpatterns: list = [
    path("tech/earnings/", earnings_views.tech_earnings, name="tech_earnings"),
    path("pay/", earnings_views.pay_rules, name="pay_rules"),
    path("pay/<int:staff_id>/", earnings_views.pay_technician, name="pay_technician"),
    path("questions/", earnings_views.questions, name="questions"),
    path("questions/defaults/", earnings_views.questions_defaults, name="questions_defaults"),
    path("questions/<int:pk>/", earnings_views.question_edit, name="question_edit"),
    path("questions/<int:pk>/active/", earnings_views.question_active, name="question_active"),
]
