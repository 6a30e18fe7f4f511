"""slotwise.asgi: one hop per request on a fixed set of reused request threads; a streaming
response is iterated (and may read the database) on the same thread as its view."""

import asyncio
import threading

import pytest
from django.core.signals import request_finished
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from slotwise.core.testing import asgi_http

pytestmark = pytest.mark.django_db(transaction=True)

SEEN: list[tuple[str, int]] = []


def _where(tag: str) -> None:
    SEEN.append((tag, threading.get_ident()))


def plain_view(request):
    _where("view")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse(b"ok")


def stream_view(request):
    _where("view")

    def rows():
        for i in range(3):
            _where("stream")
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s", [i])
                yield f"{cursor.fetchone()[0]}\n".encode()

    return StreamingHttpResponse(rows())


urlpatterns = [path("plain/", plain_view), path("stream/", stream_view)]


async def _get(application, path_):
    status, _headers, content = await asgi_http("GET", path_, application=application)
    return status, content


@pytest.fixture
def app(settings):
    from slotwise.asgi import OneHopASGIHandler

    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    SEEN.clear()
    return OneHopASGIHandler(threads=2)


def test_concurrent_requests_share_a_fixed_set_of_threads(app):
    finished = []

    def on_finished(**kwargs):
        finished.append(threading.get_ident())

    request_finished.connect(on_finished)
    try:

        async def many():
            return await asyncio.gather(*[_get(app, "/plain/") for _ in range(12)])

        results = asyncio.run(many())
    finally:
        request_finished.disconnect(on_finished)
    assert results == [(200, b"ok")] * 12
    view_threads = {ident for tag, ident in SEEN if tag == "view"}
    assert len(view_threads) <= 2
    assert threading.get_ident() not in view_threads
    # Every request finished (its connection returned) on its own request thread.
    assert len(finished) == 12
    assert set(finished) <= view_threads


def test_streaming_response_runs_on_the_views_thread(app):
    status, content = asyncio.run(_get(app, "/stream/"))
    assert status == 200
    assert content == b"0\n1\n2\n"
    assert len({ident for _tag, ident in SEEN}) == 1


def test_lean_paths_run_on_their_own_threads(settings):
    """Requests a lean path serves (here: any path under /plain/) get the lean threads, the
    rest the pages' threads; neither set grows beyond its size."""
    from slotwise.asgi import OneHopASGIHandler

    class Handler(OneHopASGIHandler):
        def lean(self, scope):
            return scope["path"].startswith("/plain/") or super().lean(scope)

    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    app = Handler(threads=3, lean_threads=1)
    names: dict[str, set[str]] = {"plain": set(), "stream": set()}
    SEEN.clear()

    def record(request, kind, view):
        names[kind].add(threading.current_thread().name)
        return view(request)

    import sys

    module = sys.modules[__name__]
    module.urlpatterns[:] = [
        path("plain/", lambda r: record(r, "plain", plain_view)),
        path("stream/", lambda r: record(r, "stream", stream_view)),
    ]
    try:

        async def many():
            return await asyncio.gather(
                *[_get(app, "/plain/") for _ in range(6)],
                *[_get(app, "/stream/") for _ in range(6)],
            )

        results = asyncio.run(many())
    finally:
        module.urlpatterns[:] = [path("plain/", plain_view), path("stream/", stream_view)]
    assert [status for status, _ in results] == [200] * 12
    assert len(names["plain"]) == 1 and all(n.startswith("slotwise-lean-") for n in names["plain"])
    assert 1 <= len(names["stream"]) <= 3
    assert all(n.startswith("slotwise-request-") for n in names["stream"])
