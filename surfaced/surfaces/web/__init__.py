"""The browser surface: engineer and artist pages served by the daemon (docs/browser.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surfaced.config import WebConfig
    from surfaced.mix.mixer import Mixer
    from surfaced.surfaces.web.server import WebSurface


async def open_web(mixer: Mixer, cfg: WebConfig, rate: float,
                   say: Callable[[str], None]) -> WebSurface | None:
    """Start the web surface as configured and say each role's link; None when it is
    turned off or cannot start (said why: aiohttp missing, the port taken)."""
    if not cfg.enabled:
        return None
    try:
        from surfaced.surfaces.web.roles import make_roles
        from surfaced.surfaces.web.server import WebSurface
    except ImportError as exc:  # aiohttp is a dependency, but a broken install says so here
        say(f"web page unavailable: {exc} (pip install aiohttp)")
        return None
    try:
        roles = make_roles(mixer.buses, cfg.artists, cfg.tokens, warn=say)
        surface = WebSurface(mixer, roles, host=cfg.host, port=cfg.port, rate=rate)
        await surface.start()
    except (OSError, ValueError) as exc:  # port taken, bad address, two roles one token
        say(f"web page unavailable on {cfg.host}:{cfg.port}: {exc} (set web.port, or "
            "web.enabled: false)")
        return None
    say(f"web page for the engineer: {surface.url(roles.engineer())}")
    for role in roles.artists():
        say(f"web page for {role.label}: {surface.url(role)}")
    return surface
