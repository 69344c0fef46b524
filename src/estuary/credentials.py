"""Secrets from the environment or from files, so that passwords stay out of configs, command
lines and the fleet's ``cameras`` topic.

* ``${NAME}`` in a source URI (``esurisrcbin``/``nvurisrcbin`` ``uri``, a fleet camera), a
  broker ``conn-str`` or any value of a broker config file (``proto-cfg`` included) is replaced
  by the environment variable ``NAME`` when the pipeline starts; what is shown keeps the
  ``${NAME}`` reference.
* ``<key>-file = PATH`` in a broker config (``password-file``, ``sasl.password-file``, ...) reads
  ``<key>`` from the first line of that file (Docker/Kubernetes secrets are files).

Every value obtained this way that sits where a secret goes is registered with
:func:`estuary.redact.register_secret`, so it is masked even if a client library quotes it. An
unset variable or an unreadable file is a :class:`~estuary.errors.ConfigError` that names the
variable or the path, never a value.
"""

from __future__ import annotations

import logging
import os
import re
import stat

from estuary.errors import ConfigError
from estuary.redact import is_secret_key, register_secret, uri_password

__all__ = ["expand", "expand_uri", "read_secret_file", "resolve_config"]

log = logging.getLogger("estuary.credentials")

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(text: str, what: str = "a value") -> str:
    """``text`` with each ``${NAME}`` replaced by the environment variable ``NAME``.

    >>> os.environ["ESTUARY_DOC_PW"] = "s3cret"
    >>> expand("rtsp://admin:${ESTUARY_DOC_PW}@127.0.0.1/cam")
    'rtsp://admin:s3cret@127.0.0.1/cam'
    """
    if not text or "${" not in text:
        return text

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set (referenced by {what})",
                              hint=f"export {name}=... before starting, or write the value in place")
        return os.environ[name]

    return _REF.sub(sub, text)


def expand_uri(uri: str, what: str = "the uri") -> str:
    """:func:`expand` for a URI; the password of its user info is registered as a secret."""
    out = expand(uri, what)
    if out is not uri:
        register_secret(uri_password(out))
    return out


def read_secret_file(path: str, what: str = "a secret") -> str:
    """The first line of ``path`` (without its line end), registered as a secret. Warns when the
    file can be read by other users."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as fh:
            value = fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} from {path}: {exc.strerror or exc}",
                          hint="the file must exist and be readable by this user") from None
    if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s is readable by other users (mode %o); chmod 600 it", path, st.st_mode & 0o777)
    if not value:
        raise ConfigError(f"{path} is empty (expected {what} on its first line)")
    register_secret(value)
    return value


def _register_pairs(text: str) -> None:
    """Register the values of secret keys in a ``k=v;k=v`` string (librdkafka ``proto-cfg``)."""
    for item in text.strip('"').split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            if is_secret_key(k.strip()):
                register_secret(v.strip())


def resolve_config(cfg: dict, path: str | None = None) -> dict:
    """A broker config with ``${NAME}`` expanded in every value and each ``<key>-file`` read into
    ``<key>``; the secrets found are registered for redaction."""
    out = {}
    for key, value in cfg.items():
        where = f"{path} [{key}]" if path else f"[{key}]"
        if isinstance(value, str):
            value = expand(value, where)
        if key.endswith("-file") and is_secret_key(key[: -len("-file")]):
            out[key] = value
            out[key[: -len("-file")]] = read_secret_file(value, f"{key[: -len('-file')]} ({where})")
            continue
        out[key] = value
        if isinstance(value, str):
            if is_secret_key(key):
                register_secret(value)
            elif key == "proto-cfg":
                _register_pairs(value)
    return out
