#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studentperf.settings")
    # The servers log to stdout (settings.LOG_STREAM); a command's stdout is its output (a key, --json), so its
    # log lines go to stderr unless LOG_STREAM says otherwise.
    if sys.argv[1:2] != ["runserver"]:
        os.environ.setdefault("LOG_STREAM", "stderr")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
