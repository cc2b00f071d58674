"""quickfix session settings, generated from configuration.

Why generated: quickfix reads an INI-style file; the service's own configuration is the single
source of truth, so the file is written from it at start-up into the session's state directory
(templates of what is produced live in ``deploy/fix/`` for reference). The FIX data dictionaries
are the ones the quickfix package installs under ``<prefix>/share/quickfix``.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
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


# Values of ExecType(150) and OrdStatus(39) that counterparties send whatever the session's
# version says (FIX 4.2's fills as ExecType 1 and 2 and its OrdStatus 5 "Replaced" on FIX 4.4
# sessions; 4.4's values on 4.2 ones): the codec maps each (gateways/fix/codec.py).
_LEGACY_VALUES = {
    "ExecType": {"0": "NEW", "1": "PARTIAL_FILL", "2": "FILL", "3": "DONE_FOR_DAY",
                 "4": "CANCELED", "5": "REPLACED", "6": "PENDING_CANCEL", "7": "STOPPED",
                 "8": "REJECTED", "9": "SUSPENDED", "A": "PENDING_NEW", "B": "CALCULATED",
                 "C": "EXPIRED", "D": "RESTATED", "E": "PENDING_REPLACE", "F": "TRADE",
                 "G": "TRADE_CORRECT", "H": "TRADE_CANCEL", "I": "ORDER_STATUS"},
    "OrdStatus": {"5": "REPLACED"},
}


def counterparty_dictionary(begin_string: str, directory: Path) -> Path:
    """The data dictionary the initiator validates inbound messages with: quickfix's own for
    ``begin_string``, with what counterparties send in the wild admitted in ExecutionReports
    (every field optional, the other version's ExecType and OrdStatus values), written to
    ``directory``. Why: quickfix answers a report that breaks the dictionary with a session
    Reject and never hands it over, and a fill lost that way is a position nobody knows about.
    What the codec still cannot read is kept raw and acted on (docs/fix.md, "What we accept
    from a counterparty"). Outbound messages are unaffected: quickfix validates only what it
    receives, and the gateway writes strict FIX 4.4 (or 4.2)."""
    tree = ET.parse(data_dictionary(begin_string))
    root = tree.getroot()
    for field in root.iter("field"):
        extra = _LEGACY_VALUES.get(field.get("name", ""))
        if extra is None or field.get("number") is None:
            continue
        known = {value.get("enum") for value in field.iter("value")}
        for enum, description in extra.items():
            if enum not in known:
                ET.SubElement(field, "value", {"enum": enum, "description": description})
    for message in root.iter("message"):
        if message.get("msgtype") == "8":
            for part in message:
                part.set("required", "N")
    path = directory / f"{begin_string.replace('.', '')}-counterparty.xml"
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def private_dir(path: Path) -> Path:
    """``path`` created if need be, readable by this process's user only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def keep_private(path: Path) -> None:
    """Every directory under ``path`` 0700, every file 0600: quickfix creates its store and log
    files with the process's umask; what they hold (order flow, and what a counterparty
    sends) is for the service's user only."""
    for root, dirs, files in os.walk(path):
        for name in dirs:
            (Path(root) / name).chmod(0o700)
        for name in files:
            (Path(root) / name).chmod(0o600)


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
    # Validate inbound messages with counterparty_dictionary (the service's gateway does);
    # otherwise with quickfix's dictionary as shipped.
    tolerant_reports: bool = False

    def render_default(self) -> str:
        """The [DEFAULT] section: what every session of this process shares."""
        private_dir(self.state_dir)
        dictionary = (counterparty_dictionary(self.begin_string, self.state_dir)
                      if self.tolerant_reports else data_dictionary(self.begin_string))
        lines = [
            "[DEFAULT]",
            f"ConnectionType={self.role}",
            f"FileStorePath={self.state_dir / 'store'}",
            f"FileLogPath={self.state_dir / 'log'}",
            "StartTime=00:00:00",
            "EndTime=00:00:00",
            "UseDataDictionary=Y",
            f"DataDictionary={dictionary}",
            # A field sent empty is the codec's to judge (a report it cannot read is kept).
            f"ValidateFieldsHaveValues={'N' if self.tolerant_reports else 'Y'}",
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
