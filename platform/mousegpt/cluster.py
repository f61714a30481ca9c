"""Connecting to Ray: an embedded local instance, or a running cluster."""

from __future__ import annotations

import logging


def connect(address: str | None = None) -> None:
    """An embedded local Ray when ``address`` is None; else ``auto`` or ``ray://host:10001``.

    Does nothing when this process is already connected (tests share one Ray).
    """
    import ray

    if ray.is_initialized():
        return
    kwargs = dict(logging_level=logging.WARNING, include_dashboard=False)
    ray.init(address=address, **kwargs) if address else ray.init(**kwargs)
