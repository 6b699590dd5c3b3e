"""Two-factor authentication (TOTP with recovery codes, django-otp) for the accounts that can change the model
or see every student: who must use it, enrolment, verification, recovery. docs/security.md, "Two-factor
authentication"."""
