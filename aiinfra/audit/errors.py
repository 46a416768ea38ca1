"""The audit's own failure: the cloud could not be read (exit 3). Standard library only, so the CLI can name it
without importing boto3."""

from __future__ import annotations

EXIT_CLOUD = 3
"""The cloud could not be read: no or rejected credentials, missing permissions, throttling after retries."""


class CloudUnreadable(Exception):
    """AWS could not be read; the message says which call failed, why, and what to do."""
