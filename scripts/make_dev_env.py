"""Print a development .env: DEBUG on, fresh random secrets, the demo accounts' passwords. Never committed.

`make run` writes .env with it once, then runs `--complete .env` every time: that appends only the variables
an existing .env lacks (one written before they were added), and keeps every value already there.
"""
import argparse
import base64
import re
import secrets
from pathlib import Path

HEADER = "# Development settings written by `make run`. Do not use in production; do not commit."
# A line that sets NAME, as python-dotenv reads it (`NAME=value` or `export NAME=value`).
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def dev_settings() -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MODEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The demo accounts of `manage.py ensure_demo_users`: superuser, teacher, model admin.
        "DEV_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "DEV_TEACHER_PASSWORD": secrets.token_urlsafe(12),
        "DEV_MODEL_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        # GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>` (docs/monitoring.md).
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }


def env_complete(path: Path) -> list[str]:
    """Append to the .env at `path` (created if absent) the variables it does not set; their names."""
    text = path.read_text() if path.exists() else ""
    present = {match.group(1) for line in text.splitlines() if (match := ASSIGNMENT.match(line))}
    missing = {name: value for name, value in dev_settings().items() if name not in present}
    if missing:
        with path.open("a") as env_file:
            if text and not text.endswith("\n"):
                env_file.write("\n")
            env_file.write("# Added by `scripts/make_dev_env.py --complete`.\n" if text else f"{HEADER}\n")
            env_file.writelines(f"{name}={value}\n" for name, value in missing.items())
    return list(missing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complete", metavar="PATH", type=Path, help="append the missing variables to this .env")
    args = parser.parse_args()
    if args.complete is None:
        print(HEADER)
        for name, value in dev_settings().items():
            print(f"{name}={value}")
        return
    added = env_complete(args.complete)
    if added:
        print(f"Added {', '.join(added)} to {args.complete}.")


if __name__ == "__main__":
    main()
