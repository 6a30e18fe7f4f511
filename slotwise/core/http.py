"""The one outbound HTTP chokepoint: every provider adapter talks to the world through here,
so time-outs, retries, logging and the user agent are the same everywhere."""

from __future__ import annotations

import ssl
import threading

import httpx
import structlog

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "Slotwise/0.1 (+https://github.com/slotwise)"


_default_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def default_ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares. Building one loads the CA bundle, about
    50 ms — paid once per process instead of on every provider call (a message sent, a payment
    started). SSLContext objects are safe to share between threads."""
    global _default_ssl_context
    if _default_ssl_context is None:
        with _ssl_lock:
            if _default_ssl_context is None:
                _default_ssl_context = httpx.create_ssl_context()
    return _default_ssl_context


def client(
    *, base_url: str = "", timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, **kwargs
) -> httpx.Client:
    # TLS settings belong to the transport (httpx ignores the client's `verify` when given one):
    # `verify` may be an ssl.SSLContext carrying a client certificate (Swish's mutual TLS).
    verify = kwargs.pop("verify", True)
    if verify is True:
        verify = default_ssl_context()
    transport = httpx.HTTPTransport(retries=2, verify=verify)
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"response": [_log_response]},
        **kwargs,
    )


def _log_response(response: httpx.Response) -> None:
    request = response.request
    log.info(
        "outbound_http",
        method=request.method,
        url=str(request.url.copy_with(query=None)),
        status=response.status_code,
    )
