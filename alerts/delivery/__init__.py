"""Delivery as a chain of small stages, as Alertmanager's notify pipeline: held back by the engine
(topology, inhibition, holds), muted (silences, maintenance, time intervals), routed, grouped with
group wait, group interval and repeat interval, then sent to each receiver with retries."""

from alerts.delivery.dispatcher import Dispatcher, Outgoing

__all__ = ["Dispatcher", "Outgoing"]
