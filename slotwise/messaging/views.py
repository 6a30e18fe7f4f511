"""Thin views: the inbound webhook of every channel, and signed links to attachments."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .channels.base import InboundRequest
from .inbound import inbound_receive
from .media import verify_token
from .models import Attachment, AttachmentStatus


def inbound_request(request) -> InboundRequest:
    return InboundRequest(
        method=request.method,
        body=request.body,
        headers={name.lower(): value for name, value in request.headers.items()},
        query={key: request.GET.get(key, "") for key in request.GET},
        url=request.build_absolute_uri(),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def inbound(request, kind: str, key: str):
    """Every channel's webhook: /messaging/inbound/<kind>/<inbound key>/ (GET for Meta's
    subscription handshake). The channel authenticates the call; nothing unauthenticated is
    stored."""
    status, content_type, body = inbound_receive(
        kind=kind, key=key, request=inbound_request(request)
    )
    return HttpResponse(body, status=status, content_type=content_type)


@require_GET
def media(request, public_id):
    """An attachment by signed, time-limited link (for providers that fetch our files)."""
    if not verify_token(public_id, request.GET.get("t", "")):
        raise Http404
    attachment = get_object_or_404(Attachment, public_id=public_id, status=AttachmentStatus.STORED)
    return FileResponse(
        attachment.file.open("rb"),
        content_type=attachment.content_type,
        filename=attachment.filename,
    )
