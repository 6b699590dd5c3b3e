"""Roles: the Teacher and Model admin groups, what each may do, and creating accounts with a role.

A role is a Django group holding model permissions; views, API permissions and admin actions check the
permissions (`user.has_perm`), never the group name, so a superuser (who holds every permission) can do
everything. The groups are created and kept in step with ROLE_PERMISSIONS by data migrations that call
`roles_sync`: a change to ROLE_PERMISSIONS ships with a new migration calling it again.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from studentperf.errors import ApplicationError

TEACHER = "Teacher"
MODEL_ADMIN = "Model admin"
# The --role names of `create_user`, and the group each one joins.
ROLE_GROUPS = {"teacher": TEACHER, "model_admin": MODEL_ADMIN}

# What the web pages and the API check. Owning a student (Student.teacher) is checked on top of these:
# without VIEW_ALL_STUDENTS a person only ever sees their own students.
VIEW_ALL_STUDENTS = "predictions.view_all_students"
STUDENT_VIEW = "predictions.view_student"
STUDENT_ADD = "predictions.add_student"
STUDENT_CHANGE = "predictions.change_student"
PREDICTION_ADD = "predictions.add_prediction"
OUTCOME_ADD = "predictions.add_outcome"
MODEL_VERSION_CHANGE = "modelstore.change_modelversion"
BATCH_ADD = "predictions.add_batchjob"
BATCH_VIEW = "predictions.view_batchjob"
ACCURACY_CHECK_VIEW = "predictions.view_accuracycheck"
ACCURACY_CHECK_RUN = "predictions.add_accuracycheck"
ALERT_ACKNOWLEDGE = "predictions.change_alert"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # A teacher works with their own students: create, edit, predict, record final grades.
    TEACHER: (
        "predictions.view_student", "predictions.add_student", "predictions.change_student",
        "predictions.view_prediction", "predictions.add_prediction",
        "predictions.view_outcome", "predictions.add_outcome",
        "modelstore.view_modelversion",
        "predictions.view_batchjob", "predictions.add_batchjob",
    ),
    # A model administrator sees every student, prediction and outcome (read only, plus trying the model),
    # and manages model versions, API keys and OAuth2 clients in the admin.
    MODEL_ADMIN: (
        "predictions.view_student", "predictions.view_all_students",
        "predictions.view_prediction", "predictions.add_prediction",
        "predictions.view_outcome",
        "modelstore.view_modelversion", "modelstore.add_modelversion", "modelstore.change_modelversion",
        "modelstore.view_modelactivation",
        "predictions.view_apikey", "predictions.add_apikey", "predictions.change_apikey",
        # OAuth2 clients and their tokens (issue 18): create, revoke (both "change" actions in the admin).
        "predictions.view_oauthclient", "predictions.add_oauthclient", "predictions.change_oauthclient",
        "oauth2_provider.view_accesstoken", "oauth2_provider.change_accesstoken",
        "predictions.view_batchjob",
        "predictions.view_accuracycheck", "predictions.add_accuracycheck",
        "predictions.view_alert", "predictions.change_alert",
        # The challenger's shadow predictions (issue 19), read only; teachers never see them.
        "predictions.view_shadowprediction",
    ),
}
# Model admins work in the Django admin, which requires is_staff; teachers never enter it.
STAFF_GROUPS = {MODEL_ADMIN}


def roles_sync(*, apps) -> None:
    """Create the role groups and give each exactly its ROLE_PERMISSIONS (for data migrations: `apps` is
    the migration's app registry; pass django.apps.apps elsewhere)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; the groups need them now. create_permissions
    # skips an app without a models module, which a migration's app configs lack; each gets back what it had, as
    # Django's own app configs must keep theirs (dumpdata and flush's post_migrate skip the apps without one).
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    defined = _permissions_defined(apps)
    for group_name, codenames in ROLE_PERMISSIONS.items():
        permissions = []
        for dotted in codenames:
            if dotted not in defined:
                continue  # a model a later migration creates; that migration calls roles_sync again
            app_label, codename = dotted.split(".")
            permissions.append(permission_model.objects.get(content_type__app_label=app_label, codename=codename))
        group, _ = group_model.objects.get_or_create(name=group_name)
        group.permissions.set(permissions)


def _permissions_defined(apps) -> set[str]:
    """Every "app_label.codename" the models of this (possibly historical) app registry define."""
    defined = set()
    for model in apps.get_models():
        opts = model._meta
        defined.update(f"{opts.app_label}.{action}_{opts.model_name}" for action in opts.default_permissions)
        defined.update(f"{opts.app_label}.{codename}" for codename, _ in opts.permissions)
    return defined


def user_role(*, user) -> str | None:
    """"superuser", "model_admin", "teacher" or None: the strongest role an account holds."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return "superuser"
    groups = set(user.groups.values_list("name", flat=True))
    for role, group_name in (("model_admin", MODEL_ADMIN), ("teacher", TEACHER)):
        if group_name in groups:
            return role
    return None


def user_create(*, username: str, password: str, role: str, email: str = ""):
    """A new active account in one role's group (model admins are staff, for the admin).

    The password must pass the configured validators. Raises ApplicationError naming the bad field.
    """
    from django.contrib.auth.models import Group

    if role not in ROLE_GROUPS:
        raise ApplicationError(
            f"Unknown role {role!r}.", kind="invalid", fields={"role": [f"must be one of {', '.join(ROLE_GROUPS)}"]}
        )
    user_model = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ApplicationError("A username is required.", kind="invalid", fields={"username": ["is required"]})
    if user_model.objects.filter(username=username).exists():
        raise ApplicationError(
            f"The username {username!r} is taken.", kind="conflict", fields={"username": ["is already taken"]}
        )
    password_validate(password=password, user=user_model(username=username, email=email))
    group_name = ROLE_GROUPS[role]
    with transaction.atomic():
        user = user_model.objects.create_user(
            username=username, email=email, password=password, is_staff=group_name in STAFF_GROUPS
        )
        user.groups.add(Group.objects.get(name=group_name))
    return user


def password_validate(*, password: str, user) -> None:
    """Raise ApplicationError (field "password") unless `password` passes settings.AUTH_PASSWORD_VALIDATORS for
    `user` (an unsaved account will do: the validators compare the password with its username and e-mail)."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ApplicationError(
            "The password is not strong enough.", kind="invalid", fields={"password": list(exc.messages)}
        ) from exc
