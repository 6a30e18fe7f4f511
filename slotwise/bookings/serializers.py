"""API shapes of bookings. Input serializers check the form of a request only; every rule lives
in `services` (ARCHITECTURE: no business logic in serializers)."""

from __future__ import annotations

from operator import attrgetter

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from slotwise.scheduling.api import LocationSerializer, OptionSerializer

from .models import BookingStatus


class _Ref(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class _TypeRef(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class BookingSerializer(serializers.Serializer):
    """A booking as the API shows it. `id` is the public id (UUID)."""

    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    type = serializers.SerializerMethodField()
    services = serializers.SerializerMethodField()
    staff = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    blocked_start = serializers.DateTimeField(help_text="Start including the buffer before.")
    blocked_end = serializers.DateTimeField(help_text="End including the buffer after.")
    hold_expires_at = serializers.DateTimeField(allow_null=True)
    seats = serializers.IntegerField()
    source = serializers.CharField()
    location = LocationSerializer(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, instance) -> dict:
        """What DRF's `Serializer.to_representation` gives (tested equal), read through the
        class's declared fields: DRF would first deep-copy and bind all 17 of them for every
        booking shown (every booking made through the API shows one)."""
        out = {}
        for name, kind, read, field in self._plan():
            if kind == "method":
                out[name] = read(self, instance)
            else:
                value = read(instance)
                out[name] = None if value is None else field.to_representation(value)
        return out

    @classmethod
    def _plan(cls) -> list:
        plan = cls.__dict__.get("_plan_cache")
        if plan is None:
            plan = []
            for name, field in cls._declared_fields.items():
                if isinstance(field, serializers.SerializerMethodField):
                    method = getattr(cls, field.method_name or f"get_{name}")
                    plan.append((name, "method", method, field))
                else:
                    plan.append((name, "field", attrgetter(field.source or name), field))
            cls._plan_cache = plan
        return plan

    @extend_schema_field(_TypeRef)
    def get_type(self, obj) -> dict:
        return {"slug": obj.type.slug, "name": obj.type.name}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_services(self, obj) -> list[str]:
        known = self.context.get("services")
        if known is not None:
            return [t.slug for t in known]
        return [t.slug for t in obj.services.all()]

    @extend_schema_field(_Ref)
    def get_staff(self, obj) -> dict:
        user = obj.staff.user
        return {"id": str(obj.staff_id), "name": user.get_full_name() or user.get_username()}

    @extend_schema_field(_Ref)
    def get_contact(self, obj) -> dict:
        return {"id": str(obj.contact.public_id), "name": str(obj.contact)}

    @extend_schema_field(_Ref)
    def get_unit(self, obj) -> dict:
        return {"id": str(obj.unit_id), "name": obj.unit.name}


class NewContactSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=120)
    last_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)


class BookingCreateSerializer(serializers.Serializer):
    """Book one option (as returned by /api/options/) for a contact."""

    type = serializers.CharField(help_text="The appointment type's slug or id.")
    services = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Further combinable services in the same visit (slugs or ids).",
    )
    staff = serializers.IntegerField(help_text="The staff member of the option.")
    start = serializers.DateTimeField(help_text="The option's start.")
    contact = serializers.UUIDField(
        required=False, allow_null=True, help_text="An existing contact's public id."
    )
    new_contact = NewContactSerializer(
        required=False, allow_null=True, help_text="Or create the contact with the booking."
    )
    postcode = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    hold_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=24 * 60,
        help_text="Make a hold that lapses after this many minutes unless confirmed.",
    )
    seats = serializers.IntegerField(required=False, default=1, min_value=1)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class RescheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    staff = serializers.IntegerField(
        required=False, allow_null=True, help_text="Move to another staff member (staff only)."
    )


class MarkSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[BookingStatus.NO_SHOW, BookingStatus.DONE])


class BookingListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    staff = serializers.IntegerField(required=False)
    contact = serializers.UUIDField(required=False)
    start = serializers.DateTimeField(required=False, help_text="Bookings ending after this.")
    end = serializers.DateTimeField(required=False, help_text="Bookings starting before this.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)
    offset = serializers.IntegerField(required=False, min_value=0)


class ConflictSerializer(serializers.Serializer):
    """409: the time was taken meanwhile; `options` are fresh ones around the time asked for."""

    detail = serializers.CharField()
    options = OptionSerializer(many=True)
