"""API helpers: one exception handler so every error has the same, field-level JSON shape."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, NotAllowed


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = DRFValidationError(detail=detail)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, **exc.detail}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, NotAllowed):
        return Response({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
