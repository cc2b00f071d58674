"""API token configuration: the format, the roles, and errors that never show the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.api.auth import Principal, Role, TokenConfigError, Tokens

SECRET = "s" * 16


def test_entries_from_text_and_file(tmp_path: Path) -> None:
    extra = tmp_path / "tokens"
    extra.write_text(f"# operators\nbob=admin:{'b' * 20}\n")
    tokens = Tokens.load(f"alice=trade:{SECRET}", extra)
    assert tokens.identify(f"Bearer {SECRET}") == Principal("alice", Role.TRADE)
    assert tokens.identify(f"Bearer {'b' * 20}") == Principal("bob", Role.ADMIN)
    assert tokens.identify("Bearer nope") is None and tokens.identify(None) is None
    assert tokens.identify(SECRET) is None  # not a bearer header


@pytest.mark.parametrize("text, complaint", [
    ("alice", "name=role:secret"),
    (f"alice=boss:{SECRET}", "read, trade or admin"),
    ("alice=read:short", "at least 16"),
    (f"a=read:{SECRET},b=admin:{SECRET}", "repeats"),
])
def test_bad_entries_are_named_without_the_secret(text: str, complaint: str) -> None:
    with pytest.raises(TokenConfigError, match=complaint) as caught:
        Tokens.parse(text)
    assert SECRET not in str(caught.value)


def test_a_missing_tokens_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="tokens file"):
        Tokens.load("", tmp_path / "missing")
