"""Logging filters for Kunci's services, importable while Django configures logging (no app imports)."""
from __future__ import annotations

import logging


class WithoutTraceback(logging.Filter):
    """Keep a record's message and drop its traceback, unless the record's logger logs DEBUG.

    For `django.security`: Django logs every refused request there (a bad Host header, a
    suspicious operation) with the exception's traceback, a kilobyte per request that anyone
    can send. The message already says what was refused.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            record.exc_info = None
            record.exc_text = None
        return True
