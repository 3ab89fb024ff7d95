#!/usr/bin/env python
"""Kunci's one entry point: DJANGO_SETTINGS_MODULE chooses the role (settings.idp or settings.rp)."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.idp")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
