"""REST routes of work orders, included under /api/work-orders/ by slotwise/api_urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("", api.WorkOrderListView.as_view(), name="api_work_orders"),
    path("catalogue/", api.CatalogueListView.as_view(), name="api_work_catalogue"),
    path("<uuid:public_id>/", api.WorkOrderDetailView.as_view(), name="api_work_order"),
    path(
        "<uuid:public_id>/lines/",
        api.WorkOrderLinesView.as_view(),
        name="api_work_order_lines",
    ),
    path(
        "<uuid:public_id>/assign/",
        api.WorkOrderAssignView.as_view(),
        name="api_work_order_assign",
    ),
    path(
        "<uuid:public_id>/candidates/",
        api.WorkOrderCandidatesView.as_view(),
        name="api_work_order_candidates",
    ),
    path("<uuid:public_id>/act/", api.WorkOrderActView.as_view(), name="api_work_order_act"),
    path(
        "<uuid:public_id>/extras/",
        api.WorkOrderExtrasView.as_view(),
        name="api_work_order_extras",
    ),
    path(
        "<uuid:public_id>/extras/decide/",
        api.WorkOrderExtrasDecideView.as_view(),
        name="api_work_order_extras_decide",
    ),
    path(
        "<uuid:public_id>/photos/",
        api.WorkOrderPhotosView.as_view(),
        name="api_work_order_photos",
    ),
    path(
        "<uuid:public_id>/complete/",
        api.WorkOrderCompleteView.as_view(),
        name="api_work_order_complete",
    ),
    path(
        "<uuid:public_id>/confirm/",
        api.WorkOrderConfirmView.as_view(),
        name="api_work_order_confirm",
    ),
    path(
        "<uuid:public_id>/return/",
        api.WorkOrderReturnView.as_view(),
        name="api_work_order_return",
    ),
    path(
        "<uuid:public_id>/comments/",
        api.WorkOrderCommentsView.as_view(),
        name="api_work_order_comments",
    ),
]
