from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import path, re_path

from core.throttle import AdminSignInForm, SignInForm
from core.views import register_by_invite

from .api import api


def healthz(request):
    """Up and answering; needs no sign-in (for load balancers and the setup script)."""
    return JsonResponse({"status": "ok"})


def api_not_found(request, rest: str):
    """Any other path under /api/: a JSON answer like the API's own errors, not an HTML page."""
    return JsonResponse({"message": f"No such API endpoint: /api/{rest}"}, status=404)


admin.site.site_header = "Nocoflo administration"
admin.site.site_title = "Nocoflo admin"
admin.site.index_title = "Users, permissions, datasources and plugins"
admin.site.site_url = "/"
# The admin's own login is throttled like the login page (core/throttle.py).
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("admin/", admin.site.urls),
    # The API's root has no endpoint (ninja would answer it with an HTML page).
    path("api/", api_not_found, {"rest": ""}),
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/invite/<str:token>/", register_by_invite, name="invite"),
    path("healthz", healthz, name="healthz"),
]
