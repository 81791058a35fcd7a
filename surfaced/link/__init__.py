"""The mix link: several daemons share one mix through an MQTT broker (docs/link.md)."""

from surfaced.link.settings import LinkConfig

__all__ = ["LinkConfig"]
