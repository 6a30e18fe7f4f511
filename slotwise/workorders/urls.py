"""Pages of the work-orders app (views are added by the intake, dispatch, technician and
earnings modules)."""

from django.urls import path

from . import views

app_name = "workorders"

urlpatterns = [
    path("<uuid:public_id>/", views.order_detail, name="order"),
    path("tech/o/<uuid:public_id>/", views.tech_order, name="tech_order"),
]
