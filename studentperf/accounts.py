"""Changing one's password under the login lockout (issue 18, attack 4).

The old-password field is a password guess like a login: Django's PasswordChangeForm checks it with
`user.check_password`, which django-axes never sees, so a stolen session could guess the old password without
limit and then set its own. Here the old password goes through `authenticate()` with the request, as the login
forms do: a wrong one counts as a failed login for the account's username from the client's address (the same
LOGIN_FAILURE_LIMIT, LOGIN_LOCKOUT_MINUTES and `axes_reset*` commands, one count shared with the login forms),
and a locked-out pair is refused (axes' backend; AxesMiddleware answers its lockout page, 429) even with the
right old password. Served at /accounts/password_change/ and, for staff, /admin/password_change/ (urls.py).
"""
from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables


class LockoutPasswordChangeForm(PasswordChangeForm):
    def __init__(self, user, *args, request, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    @sensitive_variables("old_password")
    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        # A failure (or a lockout) sends user_login_failed, which axes counts; nothing here logs the password.
        checked = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class LockoutPasswordChangeView(auth_views.PasswordChangeView):
    form_class = LockoutPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}
