"""The project's routes plus the bare reference view of ``xsell_bench webhooks``."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from xsell_plugin.urls import urlpatterns as project_urlpatterns


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    """Nothing but Django: routing, middleware, an empty 200."""
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *project_urlpatterns]
