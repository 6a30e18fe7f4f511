"""REST endpoints of onboarding applications (S1.2: applications from a web form or another
system; S1.6: decisions).

- ``GET /api/applications/`` — the applications the token's user may see (organisation, unit),
  newest first; ``?status=`` filters.
- ``POST /api/applications/`` — ``{"first_name", "last_name", "phone"}`` → 201 with the
  application; the WhatsApp welcome is queued at once (or the application is "message_not_sent").
  400 with field errors (a bad phone number, an open application for the same person).
- ``GET /api/applications/<public_id>/`` — status, collected data, documents, status history.
- ``POST /api/applications/<public_id>/approve/`` and ``…/reject/`` (``{"reason"}``).

Onboarding staff only (`onboarding.view_applications`); another organisation's or unit's
application is a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from slotwise.org.selectors import staff_of

from . import services
from .models import ApplicationSource, ApplicationStatus
from .selectors import applications_for

NOT_FOUND = {404: OpenApiResponse(description="No such application (or not yours to see).")}


class DocumentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    status = serializers.CharField(source="attachment.status")
    content_type = serializers.CharField(source="attachment.content_type")
    replaced = serializers.BooleanField()
    received_at = serializers.DateTimeField(source="created_at")


class ChangeSerializer(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    by_bot = serializers.BooleanField()


class ApplicationSerializer(serializers.Serializer):
    public_id = serializers.UUIDField()
    status = serializers.CharField()
    contact = serializers.UUIDField(source="contact.public_id")
    name = serializers.CharField(source="contact.__str__")
    phone = serializers.CharField(source="contact.phone")
    source = serializers.CharField()
    data = serializers.JSONField()
    offer_accepted_at = serializers.DateTimeField(allow_null=True)
    offer_version = serializers.CharField()
    last_error = serializers.CharField()
    reason = serializers.CharField()
    manager_actions = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField(allow_null=True)


class ApplicationDetailSerializer(ApplicationSerializer):
    documents = DocumentSerializer(many=True, source="documents.all")
    changes = ChangeSerializer(many=True, source="changes.all")


class ApplicationCreateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=120)
    last_name = serializers.CharField(max_length=120, required=False, default="")
    phone = serializers.CharField(max_length=40)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField()


def _office(request):
    staff = staff_of(request.user)
    if staff is None or not request.user.has_perm("onboarding.view_applications"):
        raise PermissionDenied
    return staff


def _application(request, public_id):
    _office(request)
    application = (
        applications_for(request.user)
        .select_related("organisation")
        .filter(public_id=public_id)
        .first()
    )
    if application is None or not request.user.has_perm(
        "onboarding.handle_application", application
    ):
        raise NotFound
    return application


class ApplicationListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ApplicationSerializer(many=True)})
    def get(self, request):
        _office(request)
        qs = applications_for(request.user).order_by("-created_at", "-pk")
        wanted = request.query_params.get("status")
        if wanted in ApplicationStatus.values:
            qs = qs.filter(status=wanted)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ApplicationSerializer(page, many=True).data)

    @extend_schema(request=ApplicationCreateSerializer, responses={201: ApplicationSerializer})
    def post(self, request):
        staff = _office(request)
        serializer = ApplicationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        application = services.application_create(
            organisation=staff.organisation,
            source=ApplicationSource.API,
            actor=request.user,
            **serializer.validated_data,
        )
        return Response(ApplicationSerializer(application).data, status=status.HTTP_201_CREATED)


class ApplicationDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ApplicationDetailSerializer, **NOT_FOUND})
    def get(self, request, public_id):
        application = _application(request, public_id)
        return Response(ApplicationDetailSerializer(application).data)


class ApplicationApproveView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: ApplicationSerializer, **NOT_FOUND})
    def post(self, request, public_id):
        application = services.application_approve(
            application=_application(request, public_id), actor=request.user
        )
        return Response(ApplicationSerializer(application).data)


class ApplicationRejectView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=RejectSerializer, responses={200: ApplicationSerializer, **NOT_FOUND})
    def post(self, request, public_id):
        application = _application(request, public_id)
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        application = services.application_reject(
            application=application, actor=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(ApplicationSerializer(application).data)
