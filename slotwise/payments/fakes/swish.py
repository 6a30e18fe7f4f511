"""A local fake of the Swish merchant Commerce API (cpc.getswish.net), for tests and the demo.

A real HTTPS server on 127.0.0.1 with **mutual TLS**: at start it makes a throwaway CA, a server
certificate for 127.0.0.1/localhost and a client certificate whose common name is the merchant's
Swish number (as the bank's certificate is), and refuses any client that doesn't present a
certificate from that CA. It speaks the endpoints the adapter uses, with the documented JSON:

- ``PUT   /swish-cpcapi/api/v2/paymentrequests/{instructionUUID}`` → 201, ``Location``; without
  ``payerAlias`` (m-commerce) also the ``PaymentRequestToken`` header. The same instruction id
  with the same body again → 201 with the same headers (idempotent); with a different body → 409.
- ``GET   /swish-cpcapi/api/v1/paymentrequests/{id}`` → 200 payment request object, 404 unknown.
- ``PATCH /swish-cpcapi/api/v1/paymentrequests/{id}`` with ``application/json-patch+json``
  ``[{"op": "replace", "path": "/status", "value": "cancelled"}]`` → 200 object (CANCELLED).
- ``PUT   /swish-cpcapi/api/v2/refunds/{instructionUUID}`` → 201, ``Location`` (same idempotency).
- ``GET   /swish-cpcapi/api/v1/refunds/{id}`` → 200 refund object, 404 unknown.

Bad input answers 422 with a JSON array of ``{"errorCode", "errorMessage",
"additionalInformation"}`` (RP01 missing payee alias, RP02 message, RP03 callback URL missing or
not HTTPS — plain http is accepted only for 127.0.0.1/localhost, FF08 reference, PA02 amount,
AM02/AM06 amount too large/small, AM03 currency, BE18 payer alias invalid, ACMT03 payer not
enrolled, RP06 an e-commerce request already open for that payer; refunds: RF02 original payment
not found, RF03 payer alias differs from the original payee, RF08 amount exceeds what is left).
A ``payeeAlias`` that is not the client certificate's Swish number answers 403.

When a payment request or refund changes status, the fake POSTs the object (JSON) to its
``callbackUrl``, with the ``callbackIdentifier`` the merchant chose both in the object and in a
``callbackIdentifier`` header. Callbacks are recorded in ``fake.deliveries``.

Python API (stable; tests and the browser test use it)::

    with SwishFake(auto_pay_after=None) as fake:        # or fake = SwishFake().start(); fake.stop()
        fake.base_url          # "https://127.0.0.1:<port>/swish-cpcapi/api"
        fake.ca_path, fake.cert_path, fake.key_path     # PEM files of the throwaway PKI
        fake.env()             # {"SWISH_CERT": cert_path, "SWISH_KEY": key_path, "SWISH_CA": ca_path}
        fake.settings()        # ProviderConfig.settings for provider "swish" (names of those vars)
        fake.payment_requests  # id → payment request object (dict); fake.refunds likewise
        fake.pay(id)           # the payer approves in the app: PAID, callback sent
        fake.decline(id)       # DECLINED (errorCode RF07); fake.error(id, code, message): ERROR
        fake.complete_refund(id) / fake.fail_refund(id)
        fake.resend_callback(id)   # deliver the last callback of that object again
        fake.callback_body(id)     # the bytes such a callback carries

Options: ``auto_pay_after=N`` pays every new payment request N seconds after it is created
(``auto_decline=True`` declines instead); ``auto_refund_after=N`` completes refunds; ``deliver``
replaces the HTTP POST of callbacks by a callable ``(url, body, headers) -> status``;
``not_enrolled`` is a set of payer numbers that answer ACMT03.

Command line (the demo)::

    python -m slotwise.payments.fakes.swish --port 9443 --certs-dir var/swish-fake \\
        [--auto-pay SECONDS] [--auto-decline] [--auto-refund SECONDS] [--payee-alias 1231181189]

prints the ``export`` lines for the certificate variables and the provider settings, then serves
until interrupted. Certificates in ``--certs-dir`` are reused when present. Control endpoints on
the same server (mutual TLS too): ``POST /__fake__/paymentrequests/{id}/pay|decline``,
``POST /__fake__/refunds/{id}/complete``, ``GET /__fake__/paymentrequests``.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import secrets
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

API_PREFIX = "/swish-cpcapi/api"
DEFAULT_PAYEE_ALIAS = "1231181189"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

_ID = re.compile(r"^[0-9A-F]{32}$")
_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_ALIAS = re.compile(r"^\d{8,15}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9\-]{1,35}$")
_MESSAGE = re.compile(r"^[A-Za-z0-9åäöÅÄÖéÉüÜ :;.,?!()\-\"'+/&%*=_]{0,50}$")

ERRORS = {
    "RP01": "Missing Merchant Swish Number",
    "RP02": "Wrong formatted message",
    "RP03": "Callback URL is missing or does not use HTTPS",
    "RP06": "A payment request already exists for that payer",
    "RP07": "Transaction could not be cancelled",
    "FF08": "PaymentReference is invalid",
    "PA02": "Amount value is missing or not a valid number",
    "AM02": "Amount value is too large",
    "AM03": "Invalid or missing Currency",
    "AM06": "Specified transaction amount is less than agreed minimum",
    "BE18": "Payer alias is invalid",
    "ACMT03": "Payer not Enrolled",
    "RF02": "Original Payment not found or original payment is more than 13 months old",
    "RF03": "Payer alias in the refund does not match the payee alias in the original payment",
    "RF07": "Transaction declined",
    "RF08": "Amount value is too large, or amount exceeds the amount of the original payment "
    "minus any previous refunds",
}


def _now() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _error(code: str, info: str | None = None) -> dict[str, Any]:
    return {
        "errorCode": code,
        "errorMessage": ERRORS.get(code, code),
        "additionalInformation": info,
    }


def _number(value: Decimal) -> float:
    # JSON numbers like Swish's ("amount": 100.5); floats round-trip two-decimal amounts exactly.
    return float(value)


# --- the throwaway PKI ------------------------------------------------------------------------


class CertPaths:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca = directory / "ca.pem"
        self.ca_key = directory / "ca-key.pem"
        self.server = directory / "server.pem"
        self.server_key = directory / "server-key.pem"
        self.client = directory / "client.pem"
        self.client_key = directory / "client-key.pem"

    def complete(self) -> bool:
        return all(
            p.exists()
            for p in (
                self.ca,
                self.ca_key,
                self.server,
                self.server_key,
                self.client,
                self.client_key,
            )
        )


def make_certs(directory: str | Path, *, payee_alias: str = DEFAULT_PAYEE_ALIAS) -> CertPaths:
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate whose CN is the
    merchant's Swish number, as PEM files in `directory` (reused when all are there)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    paths = CertPaths(Path(directory))
    paths.dir.mkdir(parents=True, exist_ok=True)
    if paths.complete():
        return paths
    now = datetime.datetime.now(datetime.UTC)

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(cn: str):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Slotwise Swish fake"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def write_key(path: Path, k) -> None:
        path.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Swish fake root CA"))
        .issuer_name(name("Swish fake root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, *, server: bool):
        k = key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return k, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf("127.0.0.1", server=True)
    client_key, client_cert = leaf(payee_alias, server=False)
    pem = serialization.Encoding.PEM
    write_key(paths.ca_key, ca_key)
    paths.ca.write_bytes(ca_cert.public_bytes(pem))
    write_key(paths.server_key, server_key)
    paths.server.write_bytes(server_cert.public_bytes(pem))
    write_key(paths.client_key, client_key)
    paths.client.write_bytes(client_cert.public_bytes(pem))
    return paths


# --- the server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake: SwishFake, context: ssl.SSLContext) -> None:
        self.fake = fake
        self.context = context
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs in the request's own thread, so a slow client can't stall accept.
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.fake._lock:
                self.fake.refused += 1
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.fake.verbose:
            sys.stderr.write("swish-fake: " + (format % args) + "\n")

    # --- plumbing -----------------------------------------------------------------------------
    def _client_alias(self) -> str:
        cert = self.connection.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return ""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None):
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self) -> Any:
        try:
            return json.loads(self._body() or b"null", parse_float=Decimal)
        except ValueError:
            return ...

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        fake = self.server.fake
        if path.startswith("/__fake__/"):
            return self._control(method, path[len("/__fake__/") :])
        if not path.startswith(API_PREFIX + "/"):
            return self._send(404)
        parts = path[len(API_PREFIX) + 1 :].strip("/").split("/")
        if len(parts) != 3:
            return self._send(404)
        version, kind, ident = parts
        alias = self._client_alias()
        if kind == "paymentrequests":
            if method == "PUT" and version == "v2":
                return self._reply(fake._create_payment(ident, self._json(), alias))
            if method == "GET" and version == "v1":
                return self._reply(fake._get("paymentrequests", ident, alias))
            if method == "PATCH" and version == "v1":
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype != "application/json-patch+json":
                    return self._send(415)
                return self._reply(fake._cancel(ident, self._json(), alias))
        if kind == "refunds":
            if method == "PUT" and version == "v2":
                return self._reply(fake._create_refund(ident, self._json(), alias))
            if method == "GET" and version == "v1":
                return self._reply(fake._get("refunds", ident, alias))
        return self._send(405 if kind in ("paymentrequests", "refunds") else 404)

    def _reply(self, result: tuple[int, Any, dict[str, str]]) -> None:
        self._send(*result)

    def _control(self, method: str, rest: str) -> None:
        fake = self.server.fake
        parts = rest.strip("/").split("/")
        try:
            if method == "GET" and parts == ["paymentrequests"]:
                with fake._lock:
                    return self._send(200, list(fake.payment_requests.values()))
            if method == "POST" and len(parts) == 3 and parts[0] == "paymentrequests":
                if parts[2] == "pay":
                    return self._send(200, fake.pay(parts[1]))
                if parts[2] == "decline":
                    return self._send(200, fake.decline(parts[1]))
            if method == "POST" and len(parts) == 3 and parts[0] == "refunds":
                if parts[2] == "complete":
                    return self._send(200, fake.complete_refund(parts[1]))
        except KeyError:
            return self._send(404)
        return self._send(404)

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")


# --- the fake ---------------------------------------------------------------------------------


class SwishFake:
    """The Swish Commerce API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certs_dir: str | Path | None = None,
        payee_alias: str = DEFAULT_PAYEE_ALIAS,
        auto_pay_after: float | None = None,
        auto_decline: bool = False,
        auto_refund_after: float | None = None,
        deliver: Callable[[str, bytes, dict[str, str]], int] | None = None,
        not_enrolled: set[str] | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.payee_alias = payee_alias
        self.auto_pay_after = auto_pay_after
        self.auto_decline = auto_decline
        self.auto_refund_after = auto_refund_after
        self.deliver = deliver
        self.not_enrolled = set(not_enrolled or {"46700000000"})
        self.verbose = verbose
        self._tmp: tempfile.TemporaryDirectory | None = None
        if certs_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="swish-fake-")
            certs_dir = self._tmp.name
        self.certs = make_certs(certs_dir, payee_alias=payee_alias)
        self.payment_requests: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.refused = 0
        self._bodies: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> SwishFake:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certs.server, self.certs.server_key)
        context.load_verify_locations(cafile=self.certs.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = _Server((self.host, self.port), self, context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="swish-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SwishFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what clients need ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}{API_PREFIX}"

    @property
    def ca_path(self) -> str:
        return str(self.certs.ca)

    @property
    def cert_path(self) -> str:
        return str(self.certs.client)

    @property
    def key_path(self) -> str:
        return str(self.certs.client_key)

    def env(self, prefix: str = "SWISH") -> dict[str, str]:
        return {
            f"{prefix}_CERT": str(Path(self.cert_path).resolve()),
            f"{prefix}_KEY": str(Path(self.key_path).resolve()),
            f"{prefix}_CA": str(Path(self.ca_path).resolve()),
        }

    def settings(self, prefix: str = "SWISH") -> dict[str, str]:
        return {
            "base_url": self.base_url,
            "payee_alias": self.payee_alias,
            "cert_env": f"{prefix}_CERT",
            "key_env": f"{prefix}_KEY",
            "ca_env": f"{prefix}_CA",
        }

    # --- API behaviour (called by the handler, under the lock) ----------------------------------
    def _location(self, kind: str, ident: str) -> str:
        return f"{self.base_url}/v1/{kind}/{ident}"

    @staticmethod
    def _callback_ok(url: Any) -> bool:
        if not isinstance(url, str) or not url:
            return False
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return True
        return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS

    @staticmethod
    def _amount(value: Any, errors: list) -> Decimal | None:
        text = str(value) if isinstance(value, (str, int, Decimal)) else ""
        if not _AMOUNT.match(text):
            errors.append(_error("PA02"))
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            errors.append(_error("PA02"))
            return None
        if amount < 1:
            errors.append(_error("AM06"))
        elif amount > Decimal("999999999999.99"):
            errors.append(_error("AM02"))
        return amount

    def _create_payment(self, ident: str, body: Any, alias: str):
        if not _ID.match(ident) or not isinstance(body, dict):
            return 400, None, {}
        errors: list[dict] = []
        payee = body.get("payeeAlias")
        if not payee:
            errors.append(_error("RP01"))
        elif payee != alias:
            return 403, None, {}
        amount = self._amount(body.get("amount"), errors)
        if body.get("currency") != "SEK":
            errors.append(_error("AM03"))
        if not self._callback_ok(body.get("callbackUrl")):
            errors.append(_error("RP03"))
        payer = body.get("payerAlias")
        if payer is not None and not (isinstance(payer, str) and _ALIAS.match(payer)):
            errors.append(_error("BE18"))
        message = body.get("message")
        if message is not None and not (isinstance(message, str) and _MESSAGE.match(message)):
            errors.append(_error("RP02"))
        reference = body.get("payeePaymentReference")
        if reference is not None and not (
            isinstance(reference, str) and _REFERENCE.match(reference)
        ):
            errors.append(_error("FF08"))
        if errors:
            return 422, errors, {}
        with self._lock:
            existing = self.payment_requests.get(ident)
            if existing is not None:
                if self._bodies[ident] != body:
                    return 409, None, {}
                return 201, None, self._payment_headers(ident)
            if payer in self.not_enrolled:
                return 422, [_error("ACMT03")], {}
            if payer and any(
                p["payerAlias"] == payer and p["status"] == "CREATED" and p["payeeAlias"] == payee
                for p in self.payment_requests.values()
            ):
                return 422, [_error("RP06")], {}
            self._bodies[ident] = body
            self.payment_requests[ident] = {
                "id": ident,
                "payeePaymentReference": reference,
                "paymentReference": None,
                "callbackUrl": body["callbackUrl"],
                "payerAlias": payer,
                "payeeAlias": payee,
                "amount": _number(amount),
                "currency": "SEK",
                "message": message,
                "status": "CREATED",
                "dateCreated": _now(),
                "datePaid": None,
                "errorCode": None,
                "errorMessage": None,
                "additionalInformation": None,
                "callbackIdentifier": body.get("callbackIdentifier"),
            }
            if not payer:
                self.tokens[ident] = secrets.token_urlsafe(24)
            headers = self._payment_headers(ident)
        if self.auto_pay_after is not None:
            action = self.decline if self.auto_decline else self.pay
            self._later(self.auto_pay_after, action, ident)
        return 201, None, headers

    def _payment_headers(self, ident: str) -> dict[str, str]:
        headers = {"Location": self._location("paymentrequests", ident)}
        if ident in self.tokens:
            headers["PaymentRequestToken"] = self.tokens[ident]
        return headers

    def _get(self, kind: str, ident: str, alias: str):
        store = self.payment_requests if kind == "paymentrequests" else self.refunds
        with self._lock:
            obj = store.get(ident)
            owner = (obj or {}).get("payeeAlias" if kind == "paymentrequests" else "payerAlias")
            if obj is None or owner != alias:
                return 404, None, {}
            return 200, dict(obj), {}

    def _cancel(self, ident: str, body: Any, alias: str):
        expected = [{"op": "replace", "path": "/status", "value": "cancelled"}]
        if body != expected:
            return 400, None, {}
        with self._lock:
            obj = self.payment_requests.get(ident)
            if obj is None or obj["payeeAlias"] != alias:
                return 404, None, {}
            if obj["status"] != "CREATED":
                return 422, [_error("RP07")], {}
            obj["status"] = "CANCELLED"
            return 200, dict(obj), {}

    def _create_refund(self, ident: str, body: Any, alias: str):
        if not _ID.match(ident) or not isinstance(body, dict):
            return 400, None, {}
        errors: list[dict] = []
        payer = body.get("payerAlias")
        if not payer:
            errors.append(_error("RP01"))
        elif payer != alias:
            return 403, None, {}
        amount = self._amount(body.get("amount"), errors)
        if body.get("currency") != "SEK":
            errors.append(_error("AM03"))
        if not self._callback_ok(body.get("callbackUrl")):
            errors.append(_error("RP03"))
        message = body.get("message")
        if message is not None and not (isinstance(message, str) and _MESSAGE.match(message)):
            errors.append(_error("RP02"))
        reference = body.get("payerPaymentReference")
        if reference is not None and not (
            isinstance(reference, str) and _REFERENCE.match(reference)
        ):
            errors.append(_error("FF08"))
        if errors:
            return 422, errors, {}
        with self._lock:
            if ident in self.refunds:
                if self._bodies[ident] != body:
                    return 409, None, {}
                return 201, None, {"Location": self._location("refunds", ident)}
            original = next(
                (
                    p
                    for p in self.payment_requests.values()
                    if p["paymentReference"]
                    and p["paymentReference"] == body.get("originalPaymentReference")
                    and p["status"] == "PAID"
                ),
                None,
            )
            if original is None:
                return 422, [_error("RF02")], {}
            if original["payeeAlias"] != payer:
                return 422, [_error("RF03")], {}
            taken = sum(
                (
                    Decimal(str(r["amount"]))
                    for r in self.refunds.values()
                    if r["originalPaymentReference"] == original["paymentReference"]
                    and r["status"] != "ERROR"
                ),
                Decimal("0"),
            )
            if amount + taken > Decimal(str(original["amount"])):
                return 422, [_error("RF08")], {}
            self._bodies[ident] = body
            self.refunds[ident] = {
                "id": ident,
                "payerPaymentReference": reference,
                "originalPaymentReference": original["paymentReference"],
                "paymentReference": None,
                "callbackUrl": body["callbackUrl"],
                "payerAlias": payer,
                "payeeAlias": original["payerAlias"],
                "amount": _number(amount),
                "currency": "SEK",
                "message": message,
                "status": "CREATED",
                "dateCreated": _now(),
                "datePaid": None,
                "errorCode": None,
                "errorMessage": None,
                "additionalInformation": None,
                "callbackIdentifier": body.get("callbackIdentifier"),
            }
        if self.auto_refund_after is not None:
            self._later(self.auto_refund_after, self.complete_refund, ident)
        return 201, None, {"Location": self._location("refunds", ident)}

    def _later(self, seconds: float, action: Callable[[str], Any], ident: str) -> None:
        def run() -> None:
            try:
                action(ident)
            except Exception as exc:  # noqa: BLE001 - a timer thread must not die loudly
                if self.verbose:
                    sys.stderr.write(f"swish-fake: {action.__name__}({ident}) failed: {exc}\n")

        timer = threading.Timer(seconds, run)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    # --- control (what the payer and the bank do) -------------------------------------------------
    def _finish(self, store: dict, ident: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            obj = store[ident]
            if obj["status"] != "CREATED":
                return dict(obj)
            obj.update(changes)
            snapshot = dict(obj)
        self._send_callback(snapshot)
        return snapshot

    def pay(self, ident: str, *, payer_alias: str | None = None) -> dict[str, Any]:
        """The payer approves in the Swish app: PAID, and the callback goes out."""
        obj = self.payment_requests[ident]
        return self._finish(
            self.payment_requests,
            ident,
            status="PAID",
            paymentReference=uuid.uuid4().hex.upper(),
            payerAlias=payer_alias or obj["payerAlias"] or "46701234567",
            datePaid=_now(),
        )

    def decline(
        self, ident: str, *, code: str = "RF07", message: str | None = None
    ) -> dict[str, Any]:
        """The payer declines (or their bank does): DECLINED with the error code."""
        return self._finish(
            self.payment_requests,
            ident,
            status="DECLINED",
            errorCode=code,
            errorMessage=message or ERRORS.get(code, "Declined"),
        )

    def error(self, ident: str, *, code: str = "TM01", message: str = "") -> dict[str, Any]:
        """Swish gives up (e.g. TM01 timed out before the payment was started): ERROR."""
        return self._finish(
            self.payment_requests,
            ident,
            status="ERROR",
            errorCode=code,
            errorMessage=message or "Swish timed out before the payment was started",
        )

    def complete_refund(self, ident: str) -> dict[str, Any]:
        return self._finish(
            self.refunds,
            ident,
            status="PAID",
            paymentReference=uuid.uuid4().hex.upper(),
            datePaid=_now(),
        )

    def fail_refund(self, ident: str, *, code: str = "RF07") -> dict[str, Any]:
        return self._finish(
            self.refunds, ident, status="ERROR", errorCode=code, errorMessage=ERRORS.get(code, "")
        )

    # --- callbacks ------------------------------------------------------------------------------
    def callback_body(self, ident: str) -> bytes:
        with self._lock:
            obj = self.payment_requests.get(ident) or self.refunds[ident]
            return json.dumps(obj).encode()

    def resend_callback(self, ident: str) -> int:
        with self._lock:
            obj = dict(self.payment_requests.get(ident) or self.refunds[ident])
        return self._send_callback(obj)

    def _send_callback(self, obj: dict[str, Any]) -> int:
        body = json.dumps(obj).encode()
        headers = {"Content-Type": "application/json"}
        if obj.get("callbackIdentifier"):
            headers["callbackIdentifier"] = obj["callbackIdentifier"]
        url = obj["callbackUrl"]
        status = 0
        error = ""
        try:
            if self.deliver is not None:
                status = self.deliver(url, body, headers)
            else:
                import httpx

                status = httpx.post(url, content=body, headers=headers, timeout=10).status_code
        except Exception as exc:  # noqa: BLE001 - recorded; Swish would retry later
            error = str(exc)
        with self._lock:
            self.deliveries.append(
                {
                    "url": url,
                    "id": obj["id"],
                    "status": obj["status"],
                    "response": status,
                    "error": error,
                    "at": time.time(),
                }
            )
        return status


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slotwise.payments.fakes.swish",
        description="A local fake of the Swish Commerce API with mutual TLS.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--certs-dir", default="var/swish-fake")
    parser.add_argument("--payee-alias", default=DEFAULT_PAYEE_ALIAS)
    parser.add_argument(
        "--auto-pay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pay every new payment request after SECONDS (the payer approves in the app)",
    )
    parser.add_argument("--auto-decline", action="store_true", help="decline instead of paying")
    parser.add_argument(
        "--auto-refund", type=float, default=1.0, metavar="SECONDS", help="complete refunds"
    )
    parser.add_argument("--env-prefix", default="SWISH")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    fake = SwishFake(
        host=args.host,
        port=args.port,
        certs_dir=args.certs_dir,
        payee_alias=args.payee_alias,
        auto_pay_after=args.auto_pay,
        auto_decline=args.auto_decline,
        auto_refund_after=args.auto_refund,
        verbose=args.verbose,
    ).start()
    print(f"# Swish fake: {fake.base_url} (mutual TLS)")
    for key, value in fake.env(args.env_prefix).items():
        print(f"export {key}={value}")
    print(
        f"# ProviderConfig settings for provider 'swish':\n# {json.dumps(fake.settings(args.env_prefix))}"
    )
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
