"""Prometheus metrics of one service instance.

Why a class with its own registry: tests and the demo run several services in one process; a
module-level default registry would make their counters collide. Names follow the conventions in
DESIGN.md: ``execagent_`` prefix, base units, counters ending in ``_total``, and label values
from closed sets only (never a ClOrdID or a parent id).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# 10 microseconds to 100 milliseconds, roughly x2.5 per bucket.
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                   5e-2, 1e-1)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.ticks = Counter("execagent_ticks_total",
                             "Market-data messages processed by the engine", ["symbol"],
                             registry=r)
        self.tick_to_order = Histogram(
            "execagent_tick_to_order_seconds",
            "From a market-data message's arrival to the order handed to the gateway",
            buckets=LATENCY_BUCKETS, registry=r)
        self.policy_inference = Histogram("execagent_policy_inference_seconds",
                                          "Policy decision time per tick", ["policy"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.risk_check = Histogram("execagent_risk_check_seconds", "Risk overlay check time",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.orders_sent = Counter("execagent_orders_sent_total", "Order messages sent, by type",
                                   ["type"], registry=r)
        self.send_failures = Counter("execagent_order_send_failures_total",
                                     "Order messages the gateway could not send", ["type"],
                                     registry=r)
        self.execution_reports = Counter("execagent_execution_reports_total",
                                         "Execution reports received, by ExecType", ["exec_type"],
                                         registry=r)
        self.filled_shares = Counter("execagent_filled_shares_total", "Shares filled",
                                     ["symbol", "side"], registry=r)
        self.risk_denials = Counter("execagent_risk_denials_total",
                                    "Child orders the risk overlay denied, by reason", ["reason"],
                                    registry=r)
        self.kill_switch = Counter("execagent_kill_switch_total",
                                   "Times the kill switch engaged, by what triggered it",
                                   ["trigger"], registry=r)
        self.trading_state = Gauge("execagent_trading_state",
                                   "1 for the risk overlay's current trading state",
                                   ["state"], registry=r)
        self.api_mutations = Counter("execagent_api_mutations_total",
                                     "Operator API mutations carried out, by action", ["action"],
                                     registry=r)
        self.api_rejected = Counter("execagent_api_rejected_requests_total",
                                    "Operator API requests refused, by reason", ["reason"],
                                    registry=r)
        self.rejected_transitions = Counter(
            "execagent_oms_rejected_transitions_total",
            "Execution reports refused by the OMS state machine, by the order's status",
            ["from_status"], registry=r)
        self.malformed_messages = Counter("execagent_malformed_messages_total",
                                          "Inbound messages that could not be parsed, by source",
                                          ["source"], registry=r)
        self.fix_session_up = Gauge("execagent_fix_session_up",
                                    "1 while the FIX session is logged on", registry=r)
        self.parent_orders_active = Gauge("execagent_parent_orders_active",
                                          "Parent orders being worked", registry=r)
        self.parent_orders_completed = Counter("execagent_parent_orders_completed_total",
                                               "Parent orders finished", ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
