"""The posture's and the oversight's metrics, read from them at scrape time.

Why a collector of its own: the posture and the drift monitors count in plain numbers on the
tick path (no metric call per tick); this turns them into Prometheus families when scraped, as
:class:`service.metrics._FeedCollector` does for the feeds. Labels are closed sets: the
configured symbols, the three postures, the gate's denial reasons, the model roles and their
features (fixed by each model's feature spec), the policy names.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from models.posture.levels import Posture
from service.oversight.monitor import Oversight
from service.posture.gate import DENY_REASONS, PostureGate

# Shortfall beyond (positive) or within (negative) the model card's expectation, bps.
EXCESS_BUCKETS = (-50.0, -25.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0)
MODEL_CHANGES = ("promote", "rollback")


class OversightCollector:
    """Families read from a :class:`PostureGate` and an :class:`Oversight` when scraped."""

    def __init__(self) -> None:
        self.posture: PostureGate | None = None
        self.oversight: Oversight | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._posture()
        yield from self._drift()

    def _posture(self) -> Iterator[Metric]:
        gate = self.posture
        state = GaugeMetricFamily("execagent_posture",
                                  "1 for the symbol's current risk posture", labels=["symbol",
                                                                                      "posture"])
        seconds = CounterMetricFamily(
            "execagent_posture_seconds", "Event time spent in each posture, by symbol",
            labels=["symbol", "posture"])
        anomaly = GaugeMetricFamily(
            "execagent_posture_anomaly_score",
            "The posture model's anomaly score (1: as unusual as the training day's extreme)",
            labels=["symbol"])
        vol = GaugeMetricFamily(
            "execagent_posture_volatility_ratio",
            "The volatility forecast over the training day's median forecast", labels=["symbol"])
        forecast = GaugeMetricFamily(
            "execagent_posture_volatility_forecast_bps",
            "Forecast volatility of the mid over the next 60 s, bps per square-root second",
            labels=["symbol"])
        regime = GaugeMetricFamily(
            "execagent_posture_turbulent_probability",
            "Filtered probability of the posture model's turbulent regime", labels=["symbol"])
        denials = CounterMetricFamily(
            "execagent_posture_denials",
            "Orders the risk posture held back before the risk overlay, by reason",
            labels=["reason"])
        if gate is not None:
            for symbol, sp in gate.symbols.items():
                for posture in Posture:
                    state.add_metric([symbol, posture.label],
                                     1.0 if sp.posture is posture else 0.0)
                    seconds.add_metric([symbol, posture.label], sp.time_in[posture])
                anomaly.add_metric([symbol], sp.scorer.anomaly)
                vol.add_metric([symbol], sp.scorer.vol_ratio)
                forecast.add_metric([symbol], sp.scorer.vol_forecast)
                regime.add_metric([symbol], sp.scorer.turbulent)
            for reason in DENY_REASONS:
                denials.add_metric([reason], gate.denials[reason])
        yield from (state, seconds, anomaly, vol, forecast, regime, denials)

    def _drift(self) -> Iterator[Metric]:
        oversight = self.oversight
        features = GaugeMetricFamily(
            "execagent_model_feature_psi",
            "Population stability index of a model's input feature over the last window "
            "against its training reference", labels=["model", "feature"])
        outputs = GaugeMetricFamily(
            "execagent_model_prediction_psi",
            "Population stability index of a model's output over the last window against its "
            "training reference", labels=["model", "output"])
        agreement = CounterMetricFamily(
            "execagent_shadow_decisions",
            "Shadow policy decisions on ticks the live policy decided too, by whether they "
            "chose the same action", labels=["agreement"])
        errors = CounterMetricFamily("execagent_shadow_errors",
                                     "Shadow policy decisions that failed (the live went on)")
        if oversight is not None:
            for role, kind, name, value in oversight.psi():
                (features if kind == "feature" else outputs).add_metric([role, name], value)
            shadow = oversight.shadow
            agreement.add_metric(["same"], shadow.agreements if shadow else 0)
            agreement.add_metric(["different"], shadow.disagreements if shadow else 0)
            errors.add_metric([], shadow.errors if shadow else 0)
        yield from (features, outputs, agreement, errors)


class OversightMetrics:
    """What the posture, the drift monitors, the live TCA and the model slots export."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.collector = OversightCollector()
        registry.register(self.collector)
        self.posture_transitions = Counter(
            "execagent_posture_transitions_total",
            "Risk posture changes, by symbol and the posture entered", ["symbol", "to"],
            registry=registry)
        self.shortfall_excess = Histogram(
            "execagent_parent_shortfall_excess_bps",
            "Finished parents' shortfall minus their policy's expected shortfall (its model "
            "card), bps of the arrival mid", ["policy"], buckets=EXCESS_BUCKETS,
            registry=registry)
        self.expected_shortfall = Gauge(
            "execagent_model_expected_shortfall_bps",
            "Each policy's expected shortfall from its model card, bps", ["policy"],
            registry=registry)
        self.model_changes = Counter(
            "execagent_model_changes_total",
            "Live model changes through the operator API, by action", ["action"],
            registry=registry)
        self.shadow_active = Gauge(
            "execagent_shadow_active",
            "1 while a shadow policy runs beside the live one (policy.shadow)",
            registry=registry)
        for action in MODEL_CHANGES:
            self.model_changes.labels(action)

    def attach(self, posture: PostureGate | None, oversight: Oversight | None) -> None:
        self.collector.posture = posture
        self.collector.oversight = oversight
        if posture is not None:
            for symbol in posture.symbols:
                for level in Posture:
                    self.posture_transitions.labels(symbol, level.label)
