"""Print a development .env: DEBUG on, fresh random secrets. Used by `make run` once; never committed."""
import base64
import secrets

print("# Development settings written by `make run`. Do not use in production; do not commit.")
print("DJANGO_DEBUG=1")
print(f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"MODEL_ENCRYPTION_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")
print("DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost")
print(f"DEV_ADMIN_PASSWORD={secrets.token_urlsafe(12)}")
