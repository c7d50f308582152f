"""Prometheus metrics of one app instance, in its own registry (tests build several apps)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    accepted: Counter
    rejected: Counter
    replayed: Counter
    produce_seconds: Histogram


def build_metrics() -> Metrics:
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        accepted=Counter("pinpipe_api_events_accepted", "Events acknowledged by Kafka and answered 202",
                         ["record_type"], registry=registry),
        rejected=Counter("pinpipe_api_requests_rejected", "Requests refused, by reason", ["reason"],
                         registry=registry),
        replayed=Counter("pinpipe_api_idempotent_replays", "Retries answered from the idempotency cache",
                         ["record_type"], registry=registry),
        produce_seconds=Histogram(
            "pinpipe_api_produce_seconds", "From the first send to the last broker acknowledgement of a request",
            ["record_type"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
    )
