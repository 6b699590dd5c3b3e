"""Sentences shown to people about single sign-on."""

LOGIN_BUTTON = "Log in with {provider}"
LOGIN_FAILED = (
    "Single sign-on did not log you in. Your account may not exist here yet (an administrator creates it), "
    "or the login took too long: try again, or log in with your password."
)
PROVIDER_UNREACHABLE = (
    "The single sign-on provider could not be reached. Try again later, or log in with your password."
)
