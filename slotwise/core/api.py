"""API helpers: one exception handler so every error has the same, field-level JSON shape;
token authentication with one plain query on PostgreSQL."""

import functools

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.utils.translation import gettext as _
from rest_framework import authentication, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from .errors import Conflict, NotAllowed


def exception_handler(exc, context):
    # Imported here: DRF loads this module (TokenAuthentication below) while importing its views.
    from rest_framework.views import exception_handler as drf_exception_handler

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


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (the same header, checks and messages); on PostgreSQL the
    token, its user and the user's staff record (`org.selectors.staff_of`, which nearly every
    endpoint asks for) are read with one plain query: it runs on every API request, and the
    ORM's compile step costs more than the query (bench booking_http)."""

    def authenticate_credentials(self, key):
        from rest_framework.authtoken.models import Token

        from slotwise.org.selectors import prime_staff_of, staff_from_row

        if connection.vendor != "postgresql" or self.get_model() is not Token:
            return super().authenticate_credentials(key)
        models = (Token, get_user_model())
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(*models), [key])
            row = cursor.fetchone()
        # DRF's own messages (and their translations).
        if row is None:
            raise AuthenticationFailed(_("Invalid token."))
        token, user = _models_from_row(row, models)
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        token.user = user
        prime_staff_of(user, staff_from_row(row))
        return user, token


@functools.cache
def _token_sql(token_model, user_model) -> str:
    def columns(alias, model):
        return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)

    from slotwise.org.selectors import staff_join_sql

    staff_columns, staff_joins = staff_join_sql("u.id")
    return (
        f"SELECT {columns('t', token_model)}, {columns('u', user_model)}, {staff_columns}"
        f" FROM {token_model._meta.db_table} t"
        f" JOIN {user_model._meta.db_table} u ON u.id = t.user_id{staff_joins}"
        f" WHERE t.key = %s"
    )


def _models_from_row(row, models) -> list:
    """Instances of `models` from one row holding each model's concrete columns in turn."""
    objects, at = [], 0
    for model in models:
        fields = model._meta.concrete_fields
        values = [
            f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
            for f, v in zip(fields, row[at : at + len(fields)], strict=True)
        ]
        at += len(fields)
        objects.append(model.from_db(connection.alias, [f.attname for f in fields], values))
    return objects
