"""A small client of the Swish merchant Commerce API over mutual TLS (no maintained Python SDK
exists; this is httpx through `slotwise.core.http`). It speaks JSON dicts; the provider turns
them into boundary dataclasses.

Endpoints (base URL e.g. ``https://cpc.getswish.net/swish-cpcapi/api``):
``PUT v2/paymentrequests/{id}``, ``GET|PATCH v1/paymentrequests/{id}``, ``PUT v2/refunds/{id}``,
``GET v1/refunds/{id}``. Errors come back as 4xx with a JSON array of
``{"errorCode", "errorMessage", "additionalInformation"}``.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from slotwise.core import http

from ..base import ProviderError


class SwishError(ProviderError):
    """Swish answered with an error. `status` is the HTTP status, `errors` Swish's error list."""

    def __init__(self, message: str, *, status: int, errors: list[dict] | None = None) -> None:
        self.status = status
        self.errors = errors or []
        code = self.errors[0].get("errorCode", "") if self.errors else ""
        # 4xx won't get better by retrying (except 429); 5xx and transport errors may.
        super().__init__(message, permanent=400 <= status < 500 and status != 429, code=code or "")

    @property
    def reason(self) -> str:
        if not self.errors:
            return str(self)
        return "; ".join(
            f"{e.get('errorCode') or ''}: {e.get('errorMessage') or ''}".strip(": ")
            for e in self.errors
        )


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a PUT: the id and, for m-commerce, the token that opens the Swish app."""

    id: str
    location: str = ""
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict, compare=False)


class SwishClient:
    def __init__(
        self, *, base_url: str, cert: str, key: str, ca: str = "", timeout: float = 15.0
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.cert = cert
        self.key = key
        self.ca = ca
        self.timeout = timeout

    def _context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.ca or None)
            context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError(
                f"swish: can't load the client certificate or CA: {exc}", permanent=True
            ) from exc
        return context

    def _request(self, method: str, path: str, *, body: Any = None, content_type: str = ""):
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        try:
            with http.client(
                base_url=self.base_url, timeout=self.timeout, verify=self._context()
            ) as client:
                response = client.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"swish: {method} {path} failed: {exc}") from exc
        if response.status_code >= 400:
            errors: list[dict] = []
            try:
                data = response.json()
                if isinstance(data, list):
                    errors = [e for e in data if isinstance(e, dict)]
                elif isinstance(data, dict):
                    errors = [data]
            except ValueError:
                pass
            raise SwishError(
                f"swish: {method} {path} answered {response.status_code}",
                status=response.status_code,
                errors=errors,
            )
        return response

    @staticmethod
    def _object(response: httpx.Response) -> dict[str, Any]:
        try:
            data = json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise ProviderError(f"swish: malformed answer: {exc}") from exc
        if not isinstance(data, dict):
            raise ProviderError("swish: malformed answer: not an object")
        return data

    # --- payment requests -----------------------------------------------------------------------
    def create_payment_request(self, instruction_id: str, body: dict[str, Any]) -> Created:
        response = self._request("PUT", f"v2/paymentrequests/{instruction_id}", body=body)
        return Created(
            id=instruction_id,
            location=response.headers.get("Location", ""),
            token=response.headers.get("PaymentRequestToken", ""),
            headers=dict(response.headers),
        )

    def get_payment_request(self, instruction_id: str) -> dict[str, Any]:
        return self._object(self._request("GET", f"v1/paymentrequests/{instruction_id}"))

    def cancel_payment_request(self, instruction_id: str) -> dict[str, Any]:
        response = self._request(
            "PATCH",
            f"v1/paymentrequests/{instruction_id}",
            body=[{"op": "replace", "path": "/status", "value": "cancelled"}],
            content_type="application/json-patch+json",
        )
        return self._object(response)

    # --- refunds --------------------------------------------------------------------------------
    def create_refund(self, instruction_id: str, body: dict[str, Any]) -> Created:
        response = self._request("PUT", f"v2/refunds/{instruction_id}", body=body)
        return Created(id=instruction_id, location=response.headers.get("Location", ""))

    def get_refund(self, instruction_id: str) -> dict[str, Any]:
        return self._object(self._request("GET", f"v1/refunds/{instruction_id}"))
