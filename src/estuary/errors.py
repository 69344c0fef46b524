"""The Estuary exception tree.

Every error Estuary raises derives from :class:`EstuaryError`; each subclass also derives
from the matching builtin so callers can catch either (``except FileNotFoundError``).
"""

from __future__ import annotations

__all__ = [
    "EstuaryError",
    "ConfigError",
    "ModelError",
    "SourceError",
    "StreamError",
    "BrokerError",
    "BrokerRefusedError",
    "MetaError",
    "InvalidAddressError",
    "SurfaceError",
    "ElementError",
]


class EstuaryError(Exception):
    """Root of every error raised by Estuary."""

    exit_code = 1


class ConfigError(EstuaryError, ValueError):
    """A configuration file or property value is invalid.

    ``path``, ``line`` and ``key`` say where; ``hint`` says what to do.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None):
        self.path, self.line, self.key, self.hint = path, line, key, hint
        where = ""
        if path:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        if key:
            where += f"[{key}] "
        text = f"{where}{message}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text)


class ModelError(EstuaryError, RuntimeError):
    """A model file is missing, unreadable or does not fit its configuration."""

    exit_code = 3


class SourceError(EstuaryError, OSError):
    """An input source is missing, unreadable, corrupt or unreachable."""

    exit_code = 4


class StreamError(EstuaryError, RuntimeError):
    """Data flowing through a pipeline is not what an element can handle."""

    exit_code = 5


class BrokerError(EstuaryError, ConnectionError):
    """A message broker cannot be reached or refused a message."""

    exit_code = 6


class BrokerRefusedError(BrokerError):
    """The broker answered and refused us — the login, or its TLS certificate is not trusted:
    retrying with the same settings cannot mend it."""


class MetaError(EstuaryError, RuntimeError):
    """Metadata was used against its rules (wrong list, full display meta, ...)."""


class InvalidAddressError(MetaError, ValueError):
    """An int address does not name a live C-side buffer or metadata object."""


class SurfaceError(EstuaryError, RuntimeError):
    """A frame surface cannot be mapped as asked (wrong colour format, device, ...)."""


class ElementError(EstuaryError, RuntimeError):
    """An element failed while processing; posted on the bus as an ERROR message."""
