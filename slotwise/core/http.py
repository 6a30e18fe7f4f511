"""The one outbound HTTP chokepoint: every provider adapter talks to the world through here,
so time-outs, retries, logging and the user agent are the same everywhere."""

from __future__ import annotations

import httpx
import structlog

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "Slotwise/0.1 (+https://github.com/slotwise)"


def client(
    *, base_url: str = "", timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, **kwargs
) -> httpx.Client:
    # TLS settings belong to the transport (httpx ignores the client's `verify` when given one):
    # `verify` may be an ssl.SSLContext carrying a client certificate (Swish's mutual TLS).
    transport = httpx.HTTPTransport(retries=2, verify=kwargs.pop("verify", True))
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
