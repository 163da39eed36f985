"""Middleware of Nocoflo's Django side."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "Text with a NUL character (\\u0000) cannot be used"


def refuse_nul_parameters(get_response: Callable[[HttpRequest], HttpResponse]):
    """A query or form parameter holding a NUL character is refused with 400 before any view
    runs: PostgreSQL cannot take one in a text value (the metadata's filters, the admin's
    search), so it would fail deep inside a query instead of being told plainly."""

    def middleware(request: HttpRequest) -> HttpResponse:
        sources = [request.GET]
        if request.content_type == "application/x-www-form-urlencoded":  # uploads stay streamed
            sources.append(request.POST)
        for params in sources:
            for key, values in params.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    if request.path.startswith("/api/"):
                        return JsonResponse({"message": NUL_MESSAGE}, status=400)
                    return HttpResponseBadRequest(NUL_MESSAGE)
        return get_response(request)

    return middleware
