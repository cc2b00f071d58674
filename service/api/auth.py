"""Bearer tokens for the operator API, each with a name (who, for the journal) and a role.

Roles are ordered: ``read`` < ``trade`` < ``admin``; a route names the least role it needs.
Tokens come from ``api.tokens`` (environment: ``EXECAGENT_API__TOKENS``) or the file named by
``api.tokens_file`` (one entry per line; ``#`` comments), in the form ``name=role:secret``,
comma- or line-separated. With no token configured, reads are open (the API binds to
127.0.0.1 by default) and every mutation is refused: nothing can halt or resume trading
anonymously.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from pathlib import Path


class Role(enum.IntEnum):
    READ = 1
    TRADE = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


ANONYMOUS_READER = Principal("anonymous", Role.READ)


class TokenConfigError(ValueError):
    """A token entry that cannot be used; the message says which and why (never the secret)."""


class Tokens:
    def __init__(self, entries: dict[str, Principal]) -> None:
        self._entries = entries

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    @classmethod
    def parse(cls, text: str) -> Tokens:
        entries: dict[str, Principal] = {}
        items = [item.strip() for line in text.splitlines()
                 for item in line.split("#", 1)[0].split(",")]
        for index, item in enumerate(filter(None, items), start=1):
            name, eq, rest = item.partition("=")
            role_name, colon, secret = rest.partition(":")
            if not eq or not colon or not name.strip() or not secret.strip():
                raise TokenConfigError(f"api token entry {index} must look like "
                                       "name=role:secret")
            try:
                role = Role[role_name.strip().upper()]
            except KeyError:
                raise TokenConfigError(f"api token entry {index} ({name.strip()}): role must be "
                                       f"read, trade or admin, not {role_name.strip()!r}") from None
            if len(secret.strip()) < 16:
                raise TokenConfigError(f"api token entry {index} ({name.strip()}): the secret "
                                       "must be at least 16 characters")
            if secret.strip() in entries:
                raise TokenConfigError(f"api token entry {index} ({name.strip()}) repeats "
                                       "another entry's secret")
            entries[secret.strip()] = Principal(name.strip(), role)
        return cls(entries)

    @classmethod
    def load(cls, inline: str, path: Path | None) -> Tokens:
        text = inline
        if path is not None:
            try:
                text += "\n" + path.read_text()
            except OSError as exc:
                raise TokenConfigError(f"api tokens file {path}: {exc.strerror or exc}") from exc
        return cls.parse(text)

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal behind an ``Authorization: Bearer ...`` header, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        offered = authorization[len("Bearer "):].strip().encode()
        for secret, principal in self._entries.items():
            if hmac.compare_digest(secret.encode(), offered):  # no timing hint of the secret
                return principal
        return None
