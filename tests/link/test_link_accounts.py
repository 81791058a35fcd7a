"""Broker accounts, topic ACLs and TLS client certificates carry the roles across sites."""

from __future__ import annotations

from pathlib import Path

import pytest

from link.broker import Broker, make_certs
from link.conftest import need_mosquitto
from link.harness import LinkedDaemon, link_config, wait_until

pytestmark = pytest.mark.slow

ACL = """\
# engineers change the mix
user engineer
topic readwrite surfaced/test/#

# a listener follows it: it may only say it is there and send its own sync marker
user listener
topic read surfaced/test/#
topic write surfaced/test/daemon/listener
topic write surfaced/test/sync/listener
"""


def test_wrong_credentials_are_refused_and_a_read_only_account_cannot_change_the_mix(
        tmp_path: Path) -> None:
    need_mosquitto()
    accounts = {"engineer": "s3cret-eng", "listener": "s3cret-lis"}
    with Broker(tmp_path / "broker", accounts=accounts, acl=ACL) as broker:
        eng = LinkedDaemon(link_config(broker.url, "engineer", username="engineer",
                                       password="s3cret-eng")).start()
        lis = LinkedDaemon(link_config(broker.url, "listener", username="listener",
                                       password="s3cret-lis")).start()
        intruder = LinkedDaemon(link_config(broker.url, "intruder", username="engineer",
                                            password="guess")).start()
        anonymous = LinkedDaemon(link_config(broker.url, "anon")).start()
        try:
            assert wait_until(lambda: eng.in_mix() and lis.in_mix()), eng.lines + lis.lines
            assert wait_until(lambda: bool(intruder.link.refusal and anonymous.link.refusal))
            assert not intruder.in_mix() and not anonymous.in_mix()
            assert any("refused this daemon" in line for line in intruder.lines)
            # the engineer's change reaches the listener; nothing reaches the refused ones
            eng.mixer.set("ch/1/fader", -9.0, "surface:desk")
            assert wait_until(lambda: lis.mixer.get("ch/1/fader") == -9.0)
            # the listener's move is refused by the broker and put back to the mix
            lis.mixer.set("ch/1/fader", 5.0, "surface:tablet")
            assert wait_until(lambda: lis.link.stats.refused_by_broker >= 1)
            assert wait_until(lambda: lis.mixer.get("ch/1/fader") == -9.0)
            eng.mixer.set("ch/2/pan", 0.25, "surface:desk")  # later than the listener's move
            assert wait_until(lambda: lis.mixer.get("ch/2/pan") == 0.25)
            assert eng.mixer.get("ch/1/fader") == -9.0
            assert intruder.mixer.get("ch/1/fader") != -9.0
        finally:
            for d in (eng, lis, intruder, anonymous):
                d.stop()


def test_tls_with_a_client_certificate_and_without_one(tmp_path: Path) -> None:
    need_mosquitto()
    certs = make_certs(tmp_path / "certs", ("engineer",))
    acl = "user engineer\ntopic readwrite surfaced/test/#\n"
    with Broker(tmp_path / "broker", accounts={}, acl=acl, tls=certs) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"
        good = LinkedDaemon(link_config(url, "engineer", ca=str(certs / "ca.crt"),
                                        cert=str(certs / "engineer.crt"),
                                        key=str(certs / "engineer.key"))).start()
        bare = LinkedDaemon(link_config(url, "bare", ca=str(certs / "ca.crt"))).start()
        try:
            assert wait_until(lambda: good.in_mix()), good.lines
            good.mixer.set("ch/1/mute", 1.0, "surface:desk")
            assert wait_until(lambda: "peer did not return a certificate" in broker.log())
            assert wait_until(lambda: bool(bare.link.refusal))
            assert not bare.link.connected and not bare.in_mix()
            assert any("check link.ca/cert/key" in line for line in bare.lines)
            assert bare.mixer.get("ch/1/mute") == 0.0
        finally:
            good.stop()
            bare.stop()
