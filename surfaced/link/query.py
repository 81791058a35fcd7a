"""The link's answers over OSC: `/link/status` and `/link/conflicts [N]`.

`python -m surfaced.link status | conflicts [N]` asks them of the running
daemon from a shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from surfaced.events import Event
from surfaced.transports.osc_codec import encode_message

if TYPE_CHECKING:
    from surfaced.link.link import MixLink


def answer(link: MixLink, event: Event) -> list[bytes]:
    """The reply packets to one `/link/...` message (an /error for a bad one)."""
    name = event.address.strip("/")
    if name == "link/status":
        return [encode_message("/link/status", list(link.status()))]
    if name == "link/conflicts":
        n = 20
        if event.args:
            arg = event.args[0]
            if isinstance(arg, bool) or not isinstance(arg, int) or not 1 <= arg <= 1000:
                return [encode_message("/error", ["link/conflicts: expected a count 1..1000"])]
            n = arg
        return [encode_message("/link/conflicts", [c.describe() for c in link.conflicts(n)])]
    return [encode_message("/error", [f"unknown link command {name!r}; known: link/status, "
                                      "link/conflicts [N]"])]
