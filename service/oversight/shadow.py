"""A shadow policy: a candidate model run on the same ticks as the live one, that never trades.

For every parent the live engine works, the shadow keeps a *virtual* parent of its own: the same
order (side, quantity, start, horizon, arrival mid), its own would-be fills and its own resting
order. On every tick of the symbol the engine decides on, after the live decisions, it observes
its virtual state as the engine observes a live parent (:func:`models.observation.
observation_for`: the version its model was trained on, with the price signal the live
policies were shown on that tick), chooses an action, and :func:`models.actions.translate`
turns it into the intents it would send; its resting orders meet every tick's trades. Nothing
reaches the risk overlay or the gateway: each intent is applied to the virtual state only, and
journaled (``shadow`` entries: what it would have done, next to what the live policy did on that
tick).
A model with a decision interval (``execagent.decision_interval_s``) is asked at its own pace, as
the engine asks a live one: on the first decided tick at or after its last decision plus the
interval; in between its orders stay as they are.
When both the live parent and its shadow are done, a ``shadow_summary`` entry records the live
parent's realised shortfall and the shadow's estimated one; ``execagent shadow report`` compares
them.

How a would-be order is filled, named assumptions (an estimate, not a simulation of the venue):
- an IOC takes the displayed opposite levels at once, best first, up to its limit;
- a resting order fills when a trade prints at or through its price, up to the trade's size,
  with no queue ahead of it (optimistic for the shadow: it never waits behind others);
- at the horizon the remainder crosses the displayed book; what the book cannot take is marked
  at the far touch.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from core.depth_book import DepthBook
from core.domain import (
    CancelOrder,
    ChildOrder,
    MarketData,
    NewOrder,
    OrderIntent,
    OrdStatus,
    OrdType,
    ParentOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from core.tca import shortfall_bps
from models.actions import Action, ActionKind, horizon_action, translate
from models.features import MarketTracker
from models.observation import ParentObservation, observation_for
from models.policy import DecisionContext, ExecutionPolicy, decision_interval_ns
from service.state.journal import Journal

log = logging.getLogger(f"execagent.{__name__}")


def describe(action: Action) -> str:
    """An action as the journal spells it: ``rest_near 133``, ``wait``."""
    kind = action.kind.name.lower()
    return kind if action.kind is ActionKind.WAIT else f"{kind} {action.qty}"


@dataclass(slots=True)
class ShadowParent:
    """The shadow's own version of one live parent."""

    parent: ParentOrder
    n_slices: int
    observation: ParentObservation  # in the version the shadow's model was trained on
    next_decision_ns: int = 0  # from when its model is asked again (its decision interval)
    children: list[ChildOrder] = field(default_factory=list)
    decisions: int = 0
    agreements: int = 0
    compared: int = 0
    last_action: str = ""
    live_action: str | None = None  # the live policy's action on this tick, when it decided
    live_shortfall: float | None = None
    live_done: bool = False


class ShadowRunner:
    """The candidate ``policy`` shadowing every live parent; ``model`` names it in the journal
    (the file's sha256, shortened)."""

    def __init__(self, policy: ExecutionPolicy, model: str, journal: Journal | None) -> None:
        self.policy = policy
        self.decision_interval_ns = decision_interval_ns(policy)
        self.model = model
        self.journal = journal
        self.parents: dict[str, ShadowParent] = {}
        self._ids = (f"SH-{n}" for n in itertools.count(1))
        self.agreements = 0
        self.disagreements = 0
        self.finished: list[tuple[float | None, float | None]] = []  # (live, shadow) per parent
        self.errors = 0

    def follow(self, parent: ParentOrder, n_slices: int) -> ShadowParent:
        shadow = self.parents.get(parent.parent_id)
        if shadow is None:
            virtual = ParentOrder(parent.parent_id, parent.symbol, parent.side, parent.qty,
                                  parent.start_ns, parent.end_ns, self.policy.name,
                                  parent.limit_price, parent.arrival_price_x2)
            shadow = self.parents[parent.parent_id] = ShadowParent(
                virtual, n_slices, observation_for(virtual, self.policy))
        return shadow

    def live_decided(self, parent: ParentOrder, ctx: DecisionContext, action: Action) -> None:
        """The live policy's decision on this tick, for the comparison."""
        shadow = self.follow(parent, ctx.n_slices)
        if shadow.parent.arrival_price_x2 is None:
            shadow.parent.arrival_price_x2 = parent.arrival_price_x2
        shadow.live_action = describe(action)

    def live_finished(self, parent: ParentOrder, shortfall: float | None) -> None:
        shadow = self.parents.get(parent.parent_id)
        if shadow is None:
            return
        shadow.live_done = True
        shadow.live_shortfall = shortfall
        self._maybe_close(shadow)

    def on_tick(self, symbol: str, book: DepthBook, message: MarketData,
                tracker: MarketTracker, now_ns: int, decided: bool, signal_bps: float) -> None:
        """``decided``: the engine decided on this tick (a superseded one it only folds in,
        and so does the shadow: no decision, no signal); ``signal_bps``: the signal the live
        policies saw."""
        for shadow in list(self.parents.values()):
            if shadow.parent.symbol != symbol or shadow.parent.done:
                continue
            self._fill_resting(shadow, message)
            if decided:
                self._decide(shadow, book, tracker, now_ns, signal_bps)
            shadow.live_action = None

    # --- the virtual execution -----------------------------------------------------------------
    def _decide(self, shadow: ShadowParent, book: DepthBook, tracker: MarketTracker,
                now_ns: int, signal_bps: float) -> None:
        parent = shadow.parent
        if now_ns < parent.start_ns or parent.arrival_price_x2 is None:
            return
        working = [c for c in shadow.children if not c.status.is_terminal]
        if parent.remaining <= 0:
            self._done(shadow)
            return
        action = horizon_action(parent, now_ns)
        if action is None:
            if now_ns < shadow.next_decision_ns:
                return
            shadow.next_decision_ns = now_ns + self.decision_interval_ns
            slice_qty = parent.qty // shadow.n_slices
            obs = shadow.observation.fill(book, parent, working, tracker, now_ns, slice_qty,
                                          signal_bps)
            resting = sum(c.leaves_qty for c in working if c.tif is not TimeInForce.IOC)
            ctx = DecisionContext(obs, parent, book, now_ns, slice_qty, shadow.n_slices,
                                  resting, 0, signal_bps=signal_bps)
            try:
                action = self.policy.act(ctx)
            except ValueError as exc:  # ModelError: the candidate failed; the live goes on
                self.errors += 1
                log.error("shadow policy %s failed on %s: %s", self.model, parent.parent_id,
                          exc)
                return
        else:
            for child in working:  # at the horizon: what rests is gone, the rest crosses
                child.status = OrdStatus.CANCELED
            self._take(shadow, book, parent.remaining, None)
            self._done(shadow)
            return
        shadow.decisions += 1
        chosen = describe(action)
        if shadow.live_action is not None:
            shadow.compared += 1
            if shadow.live_action == chosen:
                shadow.agreements += 1
                self.agreements += 1
            else:
                self.disagreements += 1
        intents = translate(action, parent, book, working, lambda: next(self._ids))
        for intent in intents:
            self._apply(shadow, intent, book, now_ns)
        if intents or chosen != shadow.last_action:
            self._journal("shadow", now_ns, {
                "parent_id": parent.parent_id, "model": self.model, "action": chosen,
                "live_action": shadow.live_action or "", "est_filled": parent.filled})
        shadow.last_action = chosen

    def _apply(self, shadow: ShadowParent, intent: OrderIntent, book: DepthBook,
               now_ns: int) -> None:
        if isinstance(intent, CancelOrder):
            for child in shadow.children:
                if child.cl_ord_id == intent.orig_cl_ord_id:
                    child.status = OrdStatus.CANCELED
            return
        if isinstance(intent, ReplaceOrder):
            for child in shadow.children:
                if child.cl_ord_id == intent.orig_cl_ord_id:
                    child.qty, child.price = intent.qty, intent.price
            return
        assert isinstance(intent, NewOrder)
        if intent.tif is TimeInForce.IOC:
            self._take(shadow, book, intent.qty, intent.price)
            return
        shadow.children.append(ChildOrder(intent.cl_ord_id, intent.parent_id, intent.symbol,
                                          intent.side, intent.qty, intent.price, OrdType.LIMIT,
                                          TimeInForce.DAY, OrdStatus.NEW))

    def _take(self, shadow: ShadowParent, book: DepthBook, qty: int, limit: int | None) -> None:
        parent = shadow.parent
        opposite = parent.side.opposite
        levels = book.depth(opposite, 1_000)
        for price, available in levels:
            if qty <= 0 or (limit is not None and (price > limit if parent.side is Side.BUY
                                                   else price < limit)):
                break
            traded = min(qty, available)
            self._book_fill(parent, traded, price)
            qty -= traded
        if qty > 0 and limit is None:
            far = book.best(opposite) or (parent.arrival_price_x2 or 0) // 2
            self._book_fill(parent, qty, far)  # what the book could not take: at the far touch

    def _fill_resting(self, shadow: ShadowParent, message: MarketData) -> None:
        for child in shadow.children:
            if child.status.is_terminal or child.price is None:
                continue
            for trade in message.trades:
                through = trade.price >= child.price if child.side is Side.SELL \
                    else trade.price <= child.price
                if not through:
                    continue
                qty = min(trade.qty, child.leaves_qty, shadow.parent.remaining)
                if qty <= 0:
                    continue
                child.cum_qty += qty
                self._book_fill(shadow.parent, qty, child.price)
                if child.leaves_qty == 0:
                    child.status = OrdStatus.FILLED

    @staticmethod
    def _book_fill(parent: ParentOrder, qty: int, price: int) -> None:
        qty = min(qty, parent.remaining)
        if qty > 0:
            parent.filled += qty
            parent.notional_ticks += qty * price

    def _done(self, shadow: ShadowParent) -> None:
        shadow.parent.done = True
        self._maybe_close(shadow)

    def _maybe_close(self, shadow: ShadowParent) -> None:
        if not (shadow.live_done and shadow.parent.done):
            return
        estimate = shortfall_bps(shadow.parent)
        shadow_bps = float(estimate) if estimate is not None else None
        self.finished.append((shadow.live_shortfall, shadow_bps))
        self._journal("shadow_summary", shadow.parent.end_ns, {
            "parent_id": shadow.parent.parent_id, "model": self.model,
            "live_shortfall_bps": "" if shadow.live_shortfall is None
            else f"{shadow.live_shortfall:.4f}",
            "shadow_shortfall_bps": "" if shadow_bps is None else f"{shadow_bps:.4f}",
            "decisions": shadow.decisions, "compared": shadow.compared,
            "agreements": shadow.agreements, "est_filled": shadow.parent.filled})
        del self.parents[shadow.parent.parent_id]

    def _journal(self, kind: str, now_ns: int, fields: dict[str, object]) -> None:
        if self.journal is not None:
            self.journal.record(kind, now_ns, fields)
