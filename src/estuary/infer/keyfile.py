"""GLib key-file parsing (the format of every DeepStream ``*.txt`` plugin config), keeping the
line of each key so that errors can say where they are."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from estuary.errors import ConfigError

__all__ = ["KeyFile", "Entry", "parse_keyfile"]

_GROUP = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")


@dataclass
class Entry:
    value: str
    line: int


@dataclass
class KeyFile:
    """Groups of key → :class:`Entry`; repeated groups merge, the last value of a key wins."""

    path: str
    groups: dict[str, dict[str, Entry]] = field(default_factory=dict)

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def error(self, message: str, group: str | None = None, key: str | None = None,
              hint: str | None = None) -> ConfigError:
        line = None
        if group is not None and key is not None:
            e = self.groups.get(group, {}).get(key)
            line = e.line if e else None
        return ConfigError(message, path=self.path, line=line,
                           key=f"{group}/{key}" if group and key else key, hint=hint)


def parse_keyfile(path: str | None = None, text: str | None = None) -> KeyFile:
    """Parse a key file from ``path`` (or from ``text``)."""
    if text is None:
        if path is None:
            raise ConfigError("no config file given")
        if not os.path.isfile(path):
            raise ConfigError("config file not found", path=path,
                              hint="check config-file-path; relative paths are resolved "
                                   "against the working directory")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file: {exc}", path=path) from None
    kf = KeyFile(path or "<string>")
    group = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _GROUP.match(line)
        if m:
            group = m.group("name").strip()
            kf.groups.setdefault(group, {})
            continue
        if "=" not in line:
            raise ConfigError(f"line is neither [group] nor key=value: {raw.strip()!r}",
                              path=kf.path, line=n)
        if group is None:
            raise ConfigError("key=value before any [group] header", path=kf.path, line=n)
        key, value = line.split("=", 1)
        kf.groups[group][key.strip()] = Entry(value.strip(), n)
    return kf
