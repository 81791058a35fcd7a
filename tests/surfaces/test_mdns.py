"""mDNS/DNS-SD: when surfaced is announced, and what the records say.

Nothing here touches the network: the decision and the records are pure, and
the Advertiser is driven through a stand-in for AsyncZeroconf (a real one
would multicast on the LAN interfaces).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import pytest
from zeroconf import InterfaceChoice, ServiceInfo

from surfaced.surfaces.mdns import (
    Advert,
    Advertiser,
    adverts,
    default_name,
    interfaces_for,
    is_loopback_only,
    service_infos,
)


@pytest.mark.parametrize(("host", "private"), [
    ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("192.168.1.20", False), ("10.0.0.5", False), ("fd00::2", False), ("studio.lan", False),
])
def test_loopback_listeners_are_private(host: str, private: bool) -> None:
    assert is_loopback_only(host) is private


def test_only_listeners_a_tablet_can_reach_are_announced() -> None:
    listeners = [Advert("udp", "127.0.0.1", 9000), Advert("tcp", "127.0.0.1", 9000),
                 Advert("udp", "127.0.0.1", 10023, "x32")]
    assert adverts(listeners) == []  # the default configuration: nothing announced
    lan = [Advert("udp", "0.0.0.0", 9000), Advert("tcp", "127.0.0.1", 9000),
           Advert("udp", "192.168.1.20", 10023, "x32")]
    assert adverts(lan) == [lan[0], lan[2]]


def test_service_records_name_type_port_and_addresses() -> None:
    ads = [Advert("udp", "0.0.0.0", 9000), Advert("udp", "192.168.1.20", 10023, "x32"),
           Advert("tcp", "0.0.0.0", 9001)]
    infos = service_infos(ads, "surfaced on studio", lambda: ["192.168.1.20", "10.0.0.7"])
    assert all(isinstance(i, ServiceInfo) for i in infos)
    host = socket.gethostname().split(".")[0]
    assert [(i.type, i.name, i.port, i.parsed_addresses(), i.server) for i in infos] == [
        ("_osc._udp.local.", "surfaced on studio._osc._udp.local.", 9000,
         ["192.168.1.20", "10.0.0.7"], f"{host}.local."),
        ("_osc._udp.local.", "surfaced on studio (X32)._osc._udp.local.", 10023,
         ["192.168.1.20"], f"{host}.local."),
        ("_osc._tcp.local.", "surfaced on studio._osc._tcp.local.", 9001,
         ["192.168.1.20", "10.0.0.7"], f"{host}.local."),
    ]
    assert infos[1].properties == {b"namespace": b"x32", b"app": b"surfaced"}


def test_zeroconf_listens_only_where_the_listeners_are() -> None:
    assert interfaces_for([Advert("udp", "192.168.1.20", 9000)]) == ["192.168.1.20"]
    assert interfaces_for([Advert("udp", "192.168.1.20", 9000),
                           Advert("udp", "0.0.0.0", 10023, "x32")]) == InterfaceChoice.All


def test_default_name_says_which_machine() -> None:
    assert default_name() == f"surfaced on {socket.gethostname().split('.')[0]}"


class FakeZeroconf:
    """Stands in for AsyncZeroconf: records what would be announced."""

    made: ClassVar[list[FakeZeroconf]] = []

    def __init__(self, interfaces: Any) -> None:
        self.interfaces = interfaces
        self.registered: list[str] = []
        self.unregistered = False
        self.closed = False
        FakeZeroconf.made.append(self)

    async def async_register_service(self, info: ServiceInfo, **kw: Any) -> asyncio.Future[None]:
        assert kw == {"allow_name_change": True}
        self.registered.append(info.name)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def async_unregister_all_services(self) -> None:
        self.unregistered = True

    async def async_close(self) -> None:
        self.closed = True


def test_advertiser_announces_then_withdraws() -> None:
    async def scenario() -> None:
        FakeZeroconf.made.clear()
        ad = Advertiser([Advert("udp", "192.168.1.20", 9000),
                         Advert("udp", "192.168.1.20", 10023, "x32")], "desk",
                        factory=FakeZeroconf, addresses=lambda: ["192.168.1.20"])
        ad.start()
        for _ in range(100):
            if len(ad.registered) == 2:
                break
            await asyncio.sleep(0.01)
        (zc,) = FakeZeroconf.made
        assert zc.interfaces == ["192.168.1.20"]
        assert zc.registered == ad.registered == ["desk._osc._udp.local.",
                                                  "desk (X32)._osc._udp.local."]
        await ad.close()
        assert zc.unregistered and zc.closed

    asyncio.run(scenario())


def test_nothing_to_announce_opens_no_mdns_socket() -> None:
    async def scenario() -> None:
        FakeZeroconf.made.clear()
        ad = Advertiser([], "desk", factory=FakeZeroconf)
        ad.start()
        await ad.close()
        assert FakeZeroconf.made == []

    asyncio.run(scenario())


def test_a_failing_mdns_stack_is_reported_not_fatal() -> None:
    def broken(**kw: Any) -> Any:
        raise OSError("no multicast-capable interface")

    async def scenario() -> None:
        ad = Advertiser([Advert("udp", "0.0.0.0", 9000)], "desk", factory=broken,
                        addresses=lambda: ["192.168.1.20"])
        ad.start()
        await ad.close()
        assert ad.error is not None and "no multicast-capable interface" in ad.error

    asyncio.run(scenario())


def test_a_listener_bound_later_is_added_to_the_running_announcement() -> None:
    async def scenario() -> None:
        FakeZeroconf.made.clear()
        ad = Advertiser([Advert("udp", "192.168.1.20", 9000)], "desk",
                        factory=FakeZeroconf, addresses=lambda: ["192.168.1.20"])
        ad.start()
        ad.add([Advert("udp", "127.0.0.1", 9001)])  # loopback only: never announced
        ad.add([Advert("udp", "192.168.1.20", 10023, "x32")])
        ad.add([Advert("udp", "192.168.1.20", 10023, "x32")])  # already announced
        for _ in range(100):
            if len(ad.registered) == 2:
                break
            await asyncio.sleep(0.01)
        (zc,) = FakeZeroconf.made  # one mDNS stack for all
        assert zc.registered == ["desk._osc._udp.local.", "desk (X32)._osc._udp.local."]
        await ad.close()

    asyncio.run(scenario())
