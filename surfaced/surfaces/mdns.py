"""Advertise the OSC listeners over mDNS / DNS-SD, so apps list surfaced by name.

TouchOSC, Open Stage Control and console remote apps browse for
``_osc._udp`` services on the local network; a listener that a tablet can
reach is announced there (TCP listeners as ``_osc._tcp``), with instance
names such as "surfaced on studio-pc" (the native namespace) and
"surfaced on studio-pc (X32)". A listener bound to a loopback address
(127.0.0.1, ::1, the default) is private to this machine, so nothing is
announced for it, and while every listener is loopback-only no mDNS socket
is opened at all.

The decision (`adverts`) and the records (`service_infos`) are pure
functions; `Advertiser` hands the records to python-zeroconf, which answers
queries on the interfaces the listeners are bound to (all of them for
0.0.0.0 / ::).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ANY_HOSTS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Advert:
    """One listener to announce: its protocol, bound host and port, and what it speaks."""

    protocol: str  # "udp" or "tcp"
    host: str
    port: int
    namespace: str = "native"  # "native" or "x32"

    @property
    def service_type(self) -> str:
        """The DNS-SD service type: ``_osc._udp.local.`` or ``_osc._tcp.local.``."""
        return f"_osc._{self.protocol}.local."


def is_loopback_only(host: str) -> bool:
    """True when a listener bound to `host` cannot be reached from another machine."""
    if host == "localhost":
        return True
    if host in ANY_HOSTS:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it names a LAN address


def adverts(listeners: Iterable[Advert]) -> list[Advert]:
    """The listeners worth announcing: those not bound to loopback only."""
    return [a for a in listeners if not is_loopback_only(a.host)]


def default_name() -> str:
    """'surfaced on HOSTNAME' (the short host name)."""
    return f"surfaced on {socket.gethostname().split('.')[0] or 'localhost'}"


def host_addresses() -> list[str]:
    """This machine's non-loopback IP addresses (IPv4 first)."""
    import ifaddr  # installed with zeroconf

    v4: list[str] = []
    v6: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                if not ipaddress.ip_address(ip.ip).is_loopback:
                    v4.append(ip.ip)
            else:
                addr = ipaddress.ip_address(ip.ip[0])
                if not addr.is_loopback and not addr.is_link_local:
                    v6.append(str(addr))
    return list(dict.fromkeys(v4 + v6))


def service_infos(ads: Sequence[Advert], name: str,
                  addresses: Callable[[], list[str]] = host_addresses) -> list[Any]:
    """The zeroconf ServiceInfo records announcing `ads` under the instance name `name`."""
    from zeroconf import ServiceInfo

    hostname = socket.gethostname().split(".")[0] or "surfaced"
    infos = []
    for ad in ads:
        instance = name if ad.namespace == "native" else f"{name} ({ad.namespace.upper()})"
        ips = addresses() if ad.host in ANY_HOSTS else [ad.host.strip("[]")]
        props = {"namespace": ad.namespace, "app": "surfaced"}
        infos.append(ServiceInfo(ad.service_type, f"{instance}.{ad.service_type}",
                                 port=ad.port, parsed_addresses=ips, properties=props,
                                 server=f"{hostname}.local."))
    return infos


def interfaces_for(ads: Sequence[Advert]) -> Any:
    """The zeroconf interface choice: every interface if a listener binds them all,
    otherwise only the addresses the listeners are bound to."""
    from zeroconf import InterfaceChoice

    if any(ad.host in ANY_HOSTS for ad in ads):
        return InterfaceChoice.All
    return sorted({ad.host.strip("[]") for ad in ads})


class Advertiser:
    """Announces adverts with python-zeroconf while the daemon runs.

    `start` returns at once: registering (probing the name, then announcing)
    takes a second or two and happens in the background. `factory` makes the
    AsyncZeroconf (tests pass their own, so nothing goes on the network).
    """

    def __init__(self, ads: Sequence[Advert], name: str | None = None,
                 factory: Callable[..., Any] | None = None,
                 addresses: Callable[[], list[str]] = host_addresses) -> None:
        self.ads = list(ads)
        self.name = name or default_name()
        self.factory = factory
        self.addresses = addresses
        self.infos: list[Any] = []
        self.registered: list[str] = []
        self.error: str | None = None
        self._zc: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin announcing (no-op with nothing to announce); call on the running loop."""
        if not self.ads or self._zc is not None:
            return
        factory = self.factory
        if factory is None:
            from zeroconf.asyncio import AsyncZeroconf

            factory = AsyncZeroconf
        try:
            self.infos = service_infos(self.ads, self.name, self.addresses)
            self._zc = factory(interfaces=interfaces_for(self.ads))
        except Exception as exc:  # no usable interface, socket refused: say so, carry on
            self.error = f"mDNS unavailable: {exc}"
            log.warning("%s", self.error)
            return
        self._task = asyncio.get_running_loop().create_task(self._register(list(self.infos)))

    def add(self, ads: Sequence[Advert]) -> None:
        """Announce listeners bound after `start` (a port that was taken at first).

        Loopback-only ones are left out as at start. The first worth announcing
        opens the mDNS socket if none is open yet; later ones are registered on
        the open one, which answers on the interfaces chosen at its start.
        """
        new = [ad for ad in adverts(ads) if ad not in self.ads]
        if not new:
            return
        self.ads += new
        if self._zc is None:
            self.start()
            return
        infos = service_infos(new, self.name, self.addresses)
        self.infos += infos
        self._task = asyncio.get_running_loop().create_task(self._register(infos, self._task))

    async def _register(self, infos: list[Any],
                        after: asyncio.Task[None] | None = None) -> None:
        if after is not None:  # one registration at a time, in the order they came
            with contextlib.suppress(Exception):
                await after
        for info in infos:
            try:
                await (await self._zc.async_register_service(info, allow_name_change=True))
                self.registered.append(info.name)
            except Exception as exc:
                self.error = f"mDNS: could not announce {info.name}: {exc}"
                log.warning("%s", self.error)

    async def close(self) -> None:
        """Withdraw the announcements and close the mDNS sockets."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._zc is not None:
            with contextlib.suppress(Exception):
                await self._zc.async_unregister_all_services()
            with contextlib.suppress(Exception):
                await self._zc.async_close()
            self._zc = None
