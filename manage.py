#!/usr/bin/env python
"""opsdash's command line. Configuration problems print one sentence, not a traceback."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdash.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"opsdash: {exc}\n")
        sys.exit(2)
    except Exception as exc:
        from django.db import OperationalError

        if isinstance(exc, OperationalError):
            from opsdash.lib.startup import database_unreachable_message

            sys.stderr.write(database_unreachable_message(exc) + "\n")
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
