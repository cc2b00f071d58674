"""quickfix session settings, generated from configuration.

Why generated: quickfix reads an INI-style file; the service's own configuration is the single
source of truth, so the file is written from it at start-up into the session's state directory
(templates of what is produced live in ``deploy/fix/`` for reference). The FIX data dictionaries
are the ones the quickfix package installs under ``<prefix>/share/quickfix``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import quickfix as fix


def owned_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """A SessionID the caller owns. The one a quickfix callback receives wraps a C++ reference
    valid only during the callback; keeping it to use later from another thread risks reading
    freed memory. The SWIG binding has no copy constructor, so the copy is rebuilt from its
    parts."""
    return fix.SessionID(session_id.getBeginString().getValue(),
                         session_id.getSenderCompID().getValue(),
                         session_id.getTargetCompID().getValue(),
                         session_id.getSessionQualifier())


def data_dictionary(begin_string: str) -> Path:
    """Path of the data dictionary quickfix ships for ``begin_string`` (e.g. FIX.4.4)."""
    name = begin_string.replace(".", "") + ".xml"
    for prefix in (sys.prefix, sys.base_prefix, "/usr/local", "/usr"):
        candidate = Path(prefix) / "share" / "quickfix" / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"quickfix data dictionary {name} not found under share/quickfix; "
                            "reinstall the quickfix package")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One FIX session as either side sees it."""

    role: str  # "initiator" or "acceptor"
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    host: str
    port: int
    state_dir: Path
    heartbeat_seconds: int = 5
    reconnect_seconds: int = 2
    reset_on_logon: bool = False

    def render_default(self) -> str:
        """The [DEFAULT] section: what every session of this process shares."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "[DEFAULT]",
            f"ConnectionType={self.role}",
            f"FileStorePath={self.state_dir / 'store'}",
            f"FileLogPath={self.state_dir / 'log'}",
            "StartTime=00:00:00",
            "EndTime=00:00:00",
            "UseDataDictionary=Y",
            f"DataDictionary={data_dictionary(self.begin_string)}",
            "ValidateUserDefinedFields=N",
            "AllowUnknownMsgFields=Y",
            "ValidateFieldsOutOfOrder=N",
            "CheckLatency=N",
            "TimestampPrecision=6",
            # Small messages go out at once: with Nagle's algorithm a report sent right after
            # another (a fill after its New) waited for the peer's delayed ACK, about 40 ms.
            "SocketNodelay=Y",
            f"ResetOnLogon={'Y' if self.reset_on_logon else 'N'}",
            "PersistMessages=Y",
        ]
        if self.role == "acceptor":
            lines += [f"SocketAcceptHost={self.host}", f"SocketAcceptPort={self.port}"]
        return "\n".join(lines) + "\n"

    def render_session(self) -> str:
        lines = [
            "[SESSION]",
            f"BeginString={self.begin_string}",
            f"SenderCompID={self.sender_comp_id}",
            f"TargetCompID={self.target_comp_id}",
            f"HeartBtInt={self.heartbeat_seconds}",
        ]
        if self.role == "initiator":
            lines += [f"SocketConnectHost={self.host}", f"SocketConnectPort={self.port}",
                      f"ReconnectInterval={self.reconnect_seconds}"]
        return "\n".join(lines) + "\n"

    def settings(self) -> fix.SessionSettings:
        return write_settings([self], self.state_dir / f"{self.role}.cfg")

    def session_id(self) -> fix.SessionID:
        return fix.SessionID(self.begin_string, self.sender_comp_id, self.target_comp_id)


def write_settings(specs: list[SessionSpec], path: Path) -> fix.SessionSettings:
    """Write one settings file for ``specs`` (the first one's defaults) and load it."""
    if not specs:
        raise ValueError("at least one FIX session is needed")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = specs[0].render_default() + "".join("\n" + spec.render_session() for spec in specs)
    path.write_text(text)
    return fix.SessionSettings(str(path))
