"""The registration page of an invite link: `/accounts/invite/<token>/`."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from . import invites

TEMPLATE = "registration/invite.html"


class InviteRegistrationForm(UserCreationForm):
    """Username and password twice, checked like Django's own sign-up (password validators)."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = (get_user_model().USERNAME_FIELD,)


def _refused(request: HttpRequest, exc: invites.UnusableInvite) -> HttpResponse:
    return render(request, TEMPLATE, {"message": str(exc)}, status=exc.status)


@sensitive_post_parameters("password1", "password2")
@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def register_by_invite(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the form; POST: register, sign in and open the invited table."""
    try:
        invite = invites.find_invite(token)
    except invites.UnusableInvite as exc:
        return _refused(request, exc)
    # The email takes part in the password checks (a password like the address is refused).
    invitee = get_user_model()(email=invite.email)
    form = InviteRegistrationForm(request.POST or None, instance=invitee)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data[get_user_model().USERNAME_FIELD]
        try:
            user = invites.accept_invite(token, username, form.cleaned_data["password1"])
        except invites.UnusableInvite as exc:
            return _refused(request, exc)
        except invites.InvalidRegistration as exc:
            field = get_user_model().USERNAME_FIELD if exc.field == "username" else "password2"
            form.add_error(field, exc.messages)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            return redirect(f"/tables/{invite.table_id}" if invite.table_id else "/")
    context = {
        "form": form,
        "invite": invite,
        "permissions": invites.permissions_of(invite) if invite.table_id else [],
    }
    return render(request, TEMPLATE, context)
