from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import staff_of


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    organisation = serializers.CharField(allow_null=True)
    unit = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())


class MeView(APIView):
    @extend_schema(
        responses=MeSerializer, summary="The signed-in user, their organisation, unit and roles"
    )
    def get(self, request):
        staff = staff_of(request.user)
        data = {
            "username": request.user.get_username(),
            "organisation": staff.organisation.slug if staff else None,
            "unit": staff.unit.name if staff else None,
            "roles": sorted(staff.role_set) if staff else [],
        }
        return Response(MeSerializer(data).data)
