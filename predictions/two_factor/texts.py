"""What the two-factor pages and the API say."""

WRONG_CODE = "That code is not right. Enter the 6-digit code your app shows now, or an unused recovery code."
CODE_REQUIRED = "Enter a code."
THROTTLED = "Too many wrong codes: wait {seconds} seconds before the next try."
API_REQUIRED = "This session has not passed its second factor: verify it at {url} first."
API_FIELD = "is required for this account: a code from its authenticator app or a recovery code"
DEVICE_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
