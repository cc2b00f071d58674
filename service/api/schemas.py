"""The operator API's request and response bodies, as pydantic models.

Why models for the answers too: every handler builds its answer through one of these, and
``/openapi.json`` is generated from the same classes (``model_json_schema``), so the document and
what the service sends cannot drift apart; the schemathesis fuzz test checks every answer
against the document. Request bodies forbid unknown keys: a misspelt field is a 400, never
silently ignored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from models.names import PolicyName
from risk.limits import RiskLimits

MAX_DURATION_SECONDS = 86_400.0
# No control characters (C0, DEL and C1, which holds NEL U+0085) and no line or paragraph
# separator (U+2028, U+2029): nothing a log reader or str.splitlines() takes for a line break,
# no tab, no terminal escape.
ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
TradingStateName = Literal["active", "reducing", "halted"]


class _Body(BaseModel):
    """A request body: unknown keys refused, strict types (read from the JSON text: see
    service/api/routes.py), surrounding blanks stripped from strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True,
                              allow_inf_nan=False)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------
class SubmitBody(_Body):
    """A parent order: from ``start_time`` (default now) until ``end_time``, or for
    ``duration_seconds`` (exactly one of the two). Times carry a UTC offset and are read on the
    market's clock (the feed's event time: wall-clock time against a live venue; against an
    accelerated simulator, use ``duration_seconds``). ``urgency`` tilts the policies that have a
    notion of it (Almgren-Chriss: risk aversion x0.1 / x1 / x10; POV: rate x0.5 / x1 / x2); the
    others ignore it."""

    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=100_000_000)
    duration_seconds: float | None = Field(default=None, gt=0, le=MAX_DURATION_SECONDS)
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    policy: PolicyName | None = None
    limit_price: Decimal | None = Field(default=None, gt=0, max_digits=18)
    urgency: Literal["low", "normal", "high"] = "normal"

    @model_validator(mode="after")
    def _one_horizon(self) -> SubmitBody:
        if (self.duration_seconds is None) == (self.end_time is None):
            raise ValueError("give exactly one of duration_seconds and end_time")
        return self


class ReasonBody(_Body):
    """The body of every risk state change: why. It goes into the journal, one line per change,
    so it must be one line of text: a newline in it could forge a journal entry."""

    reason: str = Field(min_length=3, max_length=500,  # blank after stripping: refused
                        json_schema_extra={"pattern": ONE_LINE})

    @field_validator("reason")
    @classmethod
    def _one_line(cls, reason: str) -> str:
        if not re.fullmatch(ONE_LINE, reason):
            raise ValueError("must be one line of text, with no control characters")
        return reason


# --- answers --------------------------------------------------------------------------------------
class ErrorAnswer(_Answer):
    """Every refusal (4xx) and the rare server error: what is wrong, in one sentence."""

    error: str


class Health(_Answer):
    status: Literal["ok"] = "ok"
    fix_logged_on: bool | None = None
    trading_state: TradingStateName | None = None


class SymbolReadiness(_Answer):
    """Whether a new order on one symbol would go out now, and if not, why."""

    ready: bool
    feed: str | None = Field(description="its market-data feed (source:symbol), if it has one")
    health: str | None = Field(description="that feed's health (only live is trustworthy)")
    reason: str | None = Field(description="why new orders on it would be refused now; null "
                                           "when ready")


class Readiness(_Answer):
    """Ready only when every check passes and every configured symbol can trade."""

    ready: bool
    checks: dict[str, bool]
    symbols: dict[str, SymbolReadiness] = Field(default_factory=dict)


class OrderProgress(_Answer):
    """One parent order and how far it got (prices are exact decimals as strings)."""

    parent_id: str
    policy: str
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    filled: int
    remaining: int
    average_price: str | None
    arrival_price: str | None = Field(description="the mid when the order arrived")
    shortfall_bps: float | None = Field(
        description="implementation shortfall of the filled part against the arrival mid, "
                    "positive = cost")
    child_orders: int
    risk_denials: int
    active: bool = Field(description="still being worked")


class OrderList(_Answer):
    orders: list[OrderProgress]


class OpenOrder(_Answer):
    cl_ord_id: str
    symbol: str
    side: Literal["buy", "sell"]
    open_qty: int


class RiskState(_Answer):
    trading_state: TradingStateName
    positions: dict[str, int]
    pnl: float
    open_orders: list[OpenOrder]
    unknown_orders: int = Field(description="orders whose fate is unknown after a lost session")
    held_symbols: dict[str, str] = Field(
        default_factory=dict,
        description="symbols held for fills that were not believed, and why (resume releases)")
    denials: dict[str, int] = Field(description="risk denials by reason")
    kills: dict[str, int] = Field(description="kill switch activations by trigger")


class TradingStateAnswer(_Answer):
    trading_state: TradingStateName


class KillAnswer(_Answer):
    trading_state: TradingStateName
    cancels_sent: int


class LimitsChanged(_Answer):
    """The limits now in force, and each value that changed (``key: old -> new``)."""

    changed: list[str]
    limits: RiskLimits


class ActionEntry(_Answer):
    """One action the model can choose: its kind and the multiple of the slice quantity."""

    kind: str
    multiple: float


class BookEntryInfo(_Answer):
    """One entry of a policy book: the parents it works and the model that works them."""

    policy: str = Field(description="the name its parents carry: rl:<model file stem>")
    path: str
    sha256: str | None = Field(default=None, description="of the model file")
    sides: list[str] = Field(description="buy and/or sell")
    participation: tuple[float, float] = Field(
        description="[low, high] share of the volume expected over the horizon")
    horizon_minutes: tuple[float, float]
    feature_spec_id: str | None = None
    trained_at: str | None = None
    git_commit: str | None = None


class ModelInfo(_Answer):
    """The policy new parent orders get by default, and for ONNX the model file behind it (or
    the policy book, which picks a model per parent)."""

    policy: str = Field(description="the configured policy's name")
    kind: Literal["onnx", "baseline", "book"]
    path: str | None = None
    sha256: str | None = Field(default=None, description="of the model file, or of the book")
    entries: list[BookEntryInfo] | None = Field(
        default=None, description="a book's entries, in the order a parent is matched")
    feature_spec_id: str | None = None
    feature_spec_hash: str | None = None
    action_table: list[ActionEntry] | None = None
    algorithm: str | None = None
    training_data: str | None = None
    seed: str | None = None
    git_commit: str | None = None
    trained_at: str | None = None
    metadata: dict[str, str] | None = Field(
        default=None, description="every metadata entry of the model file, as written")
    problem: str | None = Field(
        default=None, description="why the model cannot be used, when it cannot: orders "
                                  "naming this policy are refused until it is fixed")


class ModelChange(_Answer):
    """A promotion or rollback done: the model now live for new parents, and the one now
    shadowing it."""

    action: Literal["promote", "rollback"]
    live_path: str
    live_sha256: str
    shadow_path: str
    shadow_sha256: str
