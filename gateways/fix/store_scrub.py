"""quickfix's message store, with the Logon's secrets blanked out.

Why: quickfix's FileStore keeps every message the session sends, the Logon included, in
``<store>/<session>.body``, so the Password(554) the Logon carries (wrong ones too) would sit
there in clear for as long as the file is kept. quickfix's Python binding cannot replace the
store (its MessageStore is not a class Python may implement), so the secrets are scrubbed from
the file instead: each value overwritten in place with as many ``*``, so the offsets quickfix
keeps in ``.header`` stay right. The stored Logon is never sent again (quickfix answers a
resend request with a gap fill for session messages), so its changed bytes are never read.

When: at start for whatever an earlier process left, and on the quickfix thread that sends a
Logon, from the message log's ``onOutgoing`` (gateways/fix/redacting_log.py), which quickfix
calls after the store has written and flushed the message and before the message goes on the
wire: the secret is on disk for the microseconds in between, in a directory only the
service's user may read (gateways/fix/settings.py, ``private_dir``).
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path

from gateways.fix.redacting_log import SECRET_TAGS

log = logging.getLogger(f"execagent.{__name__}")

_MARKERS = tuple(f"\x01{tag}=".encode() for tag in SECRET_TAGS)
# How far back from the end of a body file the Logon just written is looked for: far more
# than a Logon's length.
TAIL_BYTES = 64 * 1024


def scrub_file(path: Path, tail_only: bool = False) -> int:
    """Blank every secret value in ``path`` (or in its last TAIL_BYTES); returns how many."""
    try:
        size = path.stat().st_size
        if size == 0:
            return 0
        with path.open("r+b") as handle, mmap.mmap(handle.fileno(), 0) as data:
            return _scrub(data, max(0, size - TAIL_BYTES) if tail_only else 0)
    except OSError as exc:
        log.error("could not scrub secrets from %s: %s", path, exc)
        return 0


def _scrub(data: mmap.mmap, start: int) -> int:
    scrubbed = 0
    for marker in _MARKERS:
        position = data.find(marker, start)
        while position >= 0:
            value_start = position + len(marker)
            value_end = data.find(b"\x01", value_start)
            if value_end < 0:
                value_end = len(data)
            if data[value_start:value_end].strip(b"*"):
                data[value_start:value_end] = b"*" * (value_end - value_start)
                scrubbed += 1
            position = data.find(marker, value_end)
    return scrubbed


def scrub_store(store_dir: Path, tail_only: bool = False) -> int:
    """Scrub every message body file quickfix keeps under ``store_dir``."""
    if not store_dir.is_dir():
        return 0
    return sum(scrub_file(path, tail_only) for path in sorted(store_dir.glob("*.body")))
