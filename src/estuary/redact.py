"""One redaction function for everything Estuary shows: :func:`redact` masks the secrets in a
URI, a connection string, a config dump or free text that contains them, keeping what is needed
to tell which camera or broker is meant.

* URI user info: ``rtsp://admin:s3cret@host/cam`` → ``rtsp://admin:***@host/cam`` (the user is
  kept, the password removed; an unencoded ``@`` in the password is handled);
* scheme-less user info: ``admin:s3cret@host;5672`` → ``admin:***@host;5672``;
* secret keys in query strings, ``key=value;...`` connection strings (librdkafka ``proto-cfg``),
  config dumps and JSON: ``password=``, ``sasl.password=``, ``token=``, ``api_key:``,
  ``"secret": "..."`` → the value becomes ``***`` (``password-file=PATH`` keeps its path);
* ``Authorization: Basic ...`` / ``Bearer ...`` headers;
* any literal value registered with :func:`register_secret` (a password read from a file or the
  environment), wherever it appears.

A ``${NAME}`` reference to an environment variable is not a secret and is shown as written.

The pipeline keeps using the real values: only what is printed, logged, posted on the bus,
exported as a metric label or written to a status topic goes through :func:`redact`.

>>> redact("rtsp://admin:s3cret@10.0.0.7:554/stream1")
'rtsp://admin:***@10.0.0.7:554/stream1'
>>> redact("127.0.0.1;9092;sasl.username=bob;sasl.password=hunter22")
'127.0.0.1;9092;sasl.username=bob;sasl.password=***'
"""

from __future__ import annotations

import io
import logging
import re
import threading
import urllib.parse

__all__ = ["redact", "register_secret", "uri_password", "is_secret_key", "RedactingFilter",
           "RedactingStream", "install_log_redaction", "MASK"]

MASK = "***"

# scheme://user:password@  — the password may hold an unencoded '@' (greedy up to the last '@'
# before the path), never whitespace, '/', '?' or '#'
_URI_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:@/?#]*):(?P<pw>[^\s/?#]*)@")
# user:password@host without a scheme (a conn-str or bootstrap address)
_BARE_USERINFO = re.compile(r"(?<![\w/:.@%+\-])(?P<head>[\w.%+\-]+):(?P<pw>[^\s/?#;,:]+)@(?=[\w\[])")
# a key, then = or :, then (looked at, not consumed) a quoted or bare value; whether the key
# names a secret is decided in _mask_pairs, so that a key that does not never swallows the text
# after it (``rtsp://host/cam?token=...``)
_KEY_VALUE = re.compile(r"(?P<key>[\"']?[\w.\-]+[\"']?)(?P<sep>\s*[=:]\s*)"
                        r"(?=(?P<val>\"[^\"]*\"|'[^']*'|[^\s;&,\"'})\]]+))")
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "pwd", "pass", "apikey",
                    "credential", "credentials", "auth")
_NOT_SECRET = ("bypass", "compass")
_KEY_PREFIXES = ("api", "access", "secret", "private", "auth", "client")  # api-key, access_key, ...
_AUTH_HEADER = re.compile(r"(?P<head>\b(?:proxy-)?authorization\s*[:=]\s*(?:(?:basic|bearer|digest|negotiate)\s+)?)"
                          r"(?P<val>[^\s,;]+)", re.IGNORECASE)

# ${NAME}: a reference to an environment variable (estuary.credentials), shown as written
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 4  # shorter literals would mask ordinary words and numbers everywhere


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its percent-encoded form) wherever :func:`redact` later sees it.
    Used for secrets read from files or the environment; values shorter than 4 characters are
    not registered (they would mask ordinary text), the positional rules still cover them."""
    if not value or len(value) < _MIN_SECRET:
        return
    with _secrets_lock:
        _secrets.add(value)
        quoted = urllib.parse.quote(value, safe="")
        if quoted != value:
            _secrets.add(quoted)


def uri_password(uri: str) -> str | None:
    """The password of a URI's user info (percent-decoded), or None."""
    m = _URI_USERINFO.search(uri or "")
    return urllib.parse.unquote(m.group("pw")) if m and m.group("pw") else None


def is_secret_key(key: str) -> bool:
    """``sasl.password``, ``requirepass``, ``access_token``, ``x-api-key``: yes;
    ``password-file``, ``auth-method``, ``partition-key``, ``bypass``: no."""
    parts = [p for p in re.split(r"[._\-]", key.strip("\"'").lower()) if p]
    if not parts:
        return False
    last = parts[-1]
    if last == "key":
        return len(parts) > 1 and parts[-2] in _KEY_PREFIXES
    return last.endswith(_SECRET_SUFFIXES) and last not in _NOT_SECRET


def _mask_pairs(text: str) -> str:
    out, pos = [], 0
    for m in _KEY_VALUE.finditer(text):
        if m.start() < pos:
            continue  # inside a value already masked
        val = m.group("val")
        if (not is_secret_key(m.group("key")) or val.startswith(MASK) or val[1:].startswith(MASK)
                or _REFERENCE.match(text, m.end() + (val[0] in "\"'"))):
            continue
        out.append(text[pos:m.end()])
        out.append(f"{val[0]}{MASK}{val[0]}" if val[0] in "\"'" else MASK)
        pos = m.end() + len(val)
    out.append(text[pos:])
    return "".join(out)


def redact(value: object) -> str:
    """``value`` as text with every secret it names masked as ``***`` (see the module doc).
    Idempotent; ``None`` gives ``""``.

    >>> redact("source 0 (rtsp://cam:p@ss@host/live?token=abc) gave up")
    'source 0 (rtsp://cam:***@host/live?token=***) gave up'
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return text
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:  # the longest first, so a secret containing another is masked whole
        if s in text:
            text = text.replace(s, MASK)
    text = _URI_USERINFO.sub(lambda m: m.group(0) if not m.group("pw") or _REFERENCE.fullmatch(m.group("pw"))
                             else f"{m.group('head')}:{MASK}@", text)
    text = _BARE_USERINFO.sub(lambda m: m.group(0) if _REFERENCE.fullmatch(m.group("pw"))
                              else f"{m.group('head')}:{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('head')}{MASK}", text)
    return _mask_pairs(text)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's message and traceback through :func:`redact`
    (attach it to handlers: a filter on a logger does not see its children's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: let logging report it
            return True
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class RedactingStream(io.TextIOBase):
    """A text stream that passes each complete line through :func:`redact` to ``target`` (a
    sample app's own ``print`` of its URIs, for one). Partial lines wait for their end or
    :meth:`flush`, so a URI written in pieces is still seen whole.

    Partial lines are kept per thread: ``print`` writes each argument and the line end in
    separate calls, and apps print from a streaming thread (a probe's per-frame line) and the
    main loop (PERF_DATA's rates) at once. One shared buffer spliced one thread's pieces into the
    other's line (1 line in ~70 under load: test3 lost a frame line in CI); the plain
    ``sys.stdout`` keeps each ``print`` of one line whole, and so does this."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self._pending: dict[int, str] = {}  # thread id -> its line so far
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        me = threading.get_ident()
        with self._lock:
            pending = self._pending.pop(me, "") + text
            if "\n" in pending:
                done, pending = pending.rsplit("\n", 1)
                self.target.write(redact(done) + "\n")
            if pending:
                self._pending[me] = pending
        return len(text)

    def flush(self) -> None:
        """Writes the calling thread's partial line (``print(..., end="", flush=True)``), not
        another thread's: that one may be in the middle of its line."""
        with self._lock:
            pending = self._pending.pop(threading.get_ident(), "")
            if pending:
                self.target.write(redact(pending))
            self.target.flush()

    def drain(self) -> None:
        """Writes every thread's partial line (threads that ended mid-line) and flushes: for
        when the app is done."""
        with self._lock:
            for tid in list(self._pending):
                self.target.write(redact(self._pending.pop(tid)))
            self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self):
        return getattr(self.target, "encoding", "utf-8")


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (the root logger by default)."""
    logger = logger or logging.getLogger()
    for h in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
