"""The web page end to end in a real headless browser: Debian's chromium, driven by
playwright (pointed at that chromium: playwright's own browser download is not
used), against a real daemon on its headless clock.

Screenshots go to $SURFACED_SCREENSHOTS when it is set (kept out of git), else
to pytest's temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from surfaces.test_web_server import DRUMMER_TOKEN, ENGINEER_TOKEN, running_web, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}
WAIT_MS = 10_000  # every browser-side wait is bounded by this


def _need_browser() -> None:
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = ("playwright missing: .venv/bin/pip install -e '.[test]' (it drives Debian's "
                   "chromium; `playwright install` is not needed)")
    if problem is None and shutil.which(CHROMIUM) is None:
        problem = "chromium missing: apt-get install -y chromium"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@asynccontextmanager
async def browser(viewport: dict[str, int], *, touch: bool = False) -> AsyncIterator[Any]:
    """A fresh chromium page; JS errors on it fail the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     timeout=30_000)
        try:
            ctx = await b.new_context(viewport=viewport, has_touch=touch, is_mobile=touch,
                                      device_scale_factor=2 if touch else 1)
            page = await ctx.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
            assert errors == [], f"the page threw: {errors}"
        finally:
            await b.close()


async def open_page(page: Any, base: str, token: str) -> None:
    response = await page.goto(f"{base}/?token={token}")
    assert response.status == 200
    await page.wait_for_function("() => document.getElementById('status').dataset.state === 'live'")


def shots_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SURFACED_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


async def drag(page: Any, selector: str, dy: float) -> None:
    """A real mouse drag on a control's cap, `dy` pixels (negative: up)."""
    box = await page.locator(f"{selector} .cap").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x, y + dy, steps=12)
    await page.mouse.up()


async def shows(page: Any, path: str, value: str) -> None:
    """Wait (bounded) until the control for `path` shows the mixer's `value`."""
    await page.wait_for_function(
        "([p, v]) => document.querySelector(`[data-path=\"${p}\"]`)?.dataset.value === v",
        arg=[path, value])


async def page_pos(page: Any, path: str) -> float:
    return float(await page.get_attribute(f'[data-path="{path}"]', "data-pos"))


def test_a_fader_drag_on_the_page_moves_the_mix_as_one_gesture() -> None:
    _need_browser()

    async def scenario() -> None:
        async with running_web() as (d, web, base), browser(TABLET) as page:
            await open_page(page, base, ENGINEER_TOKEN)
            fader = '.fader[data-path="ch/1/fader"]'
            before = d.mixer.get("ch/1/fader")
            box = await page.locator(f"{fader} .cap").bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            await page.mouse.move(x, y)
            await page.mouse.down()
            # Held: a touch from this page, so motor faders elsewhere yield.
            await wait_for(lambda: any(s.startswith("web:engineer:")
                                       for s in d.mixer.touched_by("ch/1/fader")))
            await page.mouse.move(x, y - 80, steps=16)
            await wait_for(lambda: float(d.mixer.get("ch/1/fader")) > float(before) + 1.0)
            await page.mouse.up()
            await wait_for(lambda: d.mixer.touched_by("ch/1/fader") == frozenset())
            assert web.stats.applied >= 2 and web.stats.errors == 0
            # What the page shows is where the mix is.
            assert await page_pos(page, "ch/1/fader") == pytest.approx(
                d.mixer.position("ch/1/fader"), abs=1e-4)
            # A pan drag and the mute button too.
            pan = '.pan[data-path="ch/2/pan"] .cap'
            box = await page.locator(pan).bounding_box()
            await page.mouse.move(box["x"] + 5, box["y"] + 5)
            await page.mouse.down()
            await page.mouse.move(box["x"] - 25, box["y"] + 5, steps=5)
            await page.mouse.up()
            await wait_for(lambda: float(d.mixer.get("ch/2/pan")) < 0.0)
            await page.click('button.mute[data-path="ch/3/mute"]')
            await wait_for(lambda: d.mixer.get("ch/3/mute") == 1.0)
            # The whole ride was one gesture: two undos (mute, pan) and one for the ride.
            for _ in range(3):
                await page.click('button[data-command="undo"]')
            await wait_for(lambda: d.mixer.get("ch/1/fader") == before)
            assert d.mixer.get("ch/3/mute") == 0.0 and d.mixer.get("ch/2/pan") == 0.0
            # Undo is a change from elsewhere: the page follows it.
            await shows(page, "ch/1/fader", "0")

    asyncio.run(scenario())


def test_a_hidden_page_lets_go_of_what_it_held() -> None:
    """A phone locked mid-ride may never deliver the release: hiding the page lets go."""
    _need_browser()

    async def scenario() -> None:
        async with running_web() as (d, _web, base), browser(TABLET) as page:
            await open_page(page, base, ENGINEER_TOKEN)
            box = await page.locator('[data-path="ch/3/fader"] .cap').bounding_box()
            await page.mouse.move(box["x"] + 10, box["y"] + 10)
            await page.mouse.down()
            await wait_for(lambda: d.mixer.touched_by("ch/3/fader") != frozenset())
            await page.evaluate("""() => {
                Object.defineProperty(document, "hidden", {value: true, configurable: true});
                document.dispatchEvent(new Event("visibilitychange"));
            }""")
            await wait_for(lambda: d.mixer.touched_by("ch/3/fader") == frozenset())
            assert await page.locator(".fader.held").count() == 0

    asyncio.run(scenario())


def test_the_page_follows_changes_made_elsewhere() -> None:
    _need_browser()

    async def scenario() -> None:
        async with running_web() as (d, web, base), browser(TABLET) as page:
            await open_page(page, base, ENGINEER_TOKEN)
            osc = "osc:udp:127.0.0.1:53000"
            d.mixer.set("ch/2/fader", -12.0, osc)
            d.mixer.set("ch/2/mute", 1.0, osc)
            d.mixer.set("ch/4/solo", 1.0, osc)
            d.mixer.set("ch/3/name", "Keys L", osc)
            d.mixer.set("master/fader", "-inf", osc)
            await shows(page, "ch/2/fader", "-12")
            assert await page.get_attribute('[data-path="ch/2/mute"]', "aria-pressed") == "true"
            assert await page.get_attribute('[data-path="ch/4/solo"]', "aria-pressed") == "true"
            assert await page.text_content('.name[data-path="ch/3/name"]') == "Keys L"
            assert await page.get_attribute('[data-path="master/fader"]', "data-value") == "-inf"
            assert await page_pos(page, "ch/2/fader") == pytest.approx(
                d.mixer.position("ch/2/fader"), abs=1e-4)
            # A scene recall, from an OSC peer, moves the page too.
            d.mixer.commands.run("scene/store", ("Verse",), osc)
            d.mixer.set("ch/2/fader", 4.0, osc)
            await shows(page, "ch/2/fader", "4")
            d.mixer.commands.run("scene/recall", ("Verse",), osc)
            await shows(page, "ch/2/fader", "-12")
            # The cue mix layer shows the sends to that bus, and follows them.
            await page.click('#layers button[data-layer="1"]')
            d.mixer.set("ch/1/send/1", -3.5, osc)
            await shows(page, "ch/1/send/1", "-3.5")
            # Meters move: the generators play on the headless clock.
            await page.click('#layers button[data-layer="0"]')
            await page.wait_for_function(
                "() => [...document.querySelectorAll('#strips .meter')].some("
                "m => parseFloat(m.style.getPropertyValue('--level')) > 0)")
            assert web.stats.meters_sent > 0

    asyncio.run(scenario())


def test_the_artist_page_cannot_touch_another_channel() -> None:
    _need_browser()

    async def scenario() -> None:
        async with running_web() as (d, web, base), browser(PHONE, touch=True) as page:
            await open_page(page, base, DRUMMER_TOKEN)
            assert await page.text_content("#role") == "Drummer's mix"
            # Only their sends; no channel faders, pans, mutes, solos, layers or commands.
            assert await page.locator('.fader[data-path^="ch/"][data-path$="/send/1"]').count() \
                == 4
            for hidden in (".pan", "button.mute", "button.solo", "#layers button",
                           "[data-command]", '[data-path$="/fader"]'):
                assert await page.locator(hidden).count() == 0, hidden
            # A real touch drag (a finger, through the DevTools protocol) moves their send.
            before = float(d.mixer.get("ch/2/send/1"))
            box = await page.locator('[data-path="ch/2/send/1"]').bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 20
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Input.dispatchTouchEvent",
                           {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
            for i in range(1, 11):
                await cdp.send("Input.dispatchTouchEvent",
                               {"type": "touchMove", "touchPoints": [{"x": x, "y": y - 20 * i}]})
            await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            await wait_for(lambda: float(d.mixer.get("ch/2/send/1")) > before)
            await wait_for(lambda: d.mixer.touched_by("ch/2/send/1") == frozenset())
            # The page's own WebSocket, used from the page's JS, cannot reach anything else.
            snapshot = d.mixer.snapshot()
            await page.evaluate("""() => {
                const ws = window.surfaced.socket();
                for (const m of [
                    {t: "set", path: "ch/1/fader", pos: 1},
                    {t: "set", path: "ch/1/send/2", value: 0},
                    {t: "set", path: "ch/1/mute", value: 1},
                    {t: "set", path: "bus/1/fader", pos: 1},
                    {t: "touch", path: "ch/1/fader", on: true},
                    {t: "cmd", name: "undo", args: []},
                ]) ws.send(JSON.stringify(m));
            }""")
            await wait_for(lambda: web.stats.refused == 6)
            assert d.mixer.snapshot() == snapshot
            assert d.mixer.touched_by("ch/1/fader") == frozenset()
            await page.wait_for_selector("#toast.shown")
            assert "not" in (await page.text_content("#toast") or "")
            # Their own meter: the bus meter is live.
            await page.wait_for_function(
                "() => document.querySelector('.meter.wide')"
                ".style.getPropertyValue('--level') !== ''")

    asyncio.run(scenario())


def test_a_wrong_token_gets_403_and_no_token_asks_for_one() -> None:
    _need_browser()

    async def scenario() -> None:
        async with running_web() as (_d, web, base), browser(PHONE, touch=True) as page:
            response = await page.goto(f"{base}/?token=not-the-token-at-all")
            assert response.status == 403
            assert "not valid" in await page.text_content("body")
            response = await page.goto(f"{base}/")
            assert response.status == 200
            await page.wait_for_selector("#login:not([hidden])")
            await page.fill("#token", DRUMMER_TOKEN)
            await page.click("#login button")
            await page.wait_for_function(
                "() => document.getElementById('status').dataset.state === 'live'")
            assert await page.text_content("#role") == "Drummer's mix"
            assert web.stats.refused_auth == 1

    asyncio.run(scenario())


def test_pages_fit_a_phone_and_a_tablet(tmp_path: Path) -> None:
    """Screenshots to look at, and the sizes a finger needs, checked."""
    _need_browser()
    out = shots_dir(tmp_path)

    async def scenario() -> None:
        async with running_web() as (d, _web, base):
            d.mixer.set("ch/1/fader", -6.0, "osc:test")
            d.mixer.set("ch/2/mute", 1.0, "osc:test")
            d.mixer.set("ch/4/solo", 1.0, "osc:test")  # solo in place: only ch 4 is heard,
            d.mixer.set("ch/4/send/1", -10.0, "osc:test")  # in the drummer's mix too
            shots = [("engineer-phone", ENGINEER_TOKEN, PHONE, True),
                     ("engineer-tablet", ENGINEER_TOKEN, TABLET, True),
                     ("artist-phone", DRUMMER_TOKEN, PHONE, True)]
            for name, token, viewport, touch in shots:
                async with browser(viewport, touch=touch) as page:
                    await open_page(page, base, token)
                    await page.wait_for_function(  # the meters show the music playing
                        "() => [...document.querySelectorAll('.meter')].some("
                        "m => parseFloat(m.style.getPropertyValue('--level')) > 0.2)")
                    await page.screenshot(path=str(out / f"{name}.png"))
                    sizes = await page.evaluate("""() => {
                        const r = (e) => e.getBoundingClientRect();
                        const caps = [...document.querySelectorAll('.fader .cap')].map(r);
                        const buttons = [...document.querySelectorAll('button')].map(r)
                            .filter(b => b.width > 0);  // shown ones
                        const master = document.querySelector('#masters .strip');
                        return {
                            capH: Math.min(...caps.map(b => b.height)),
                            capW: Math.min(...caps.map(b => b.width)),
                            buttonH: Math.min(...buttons.map(b => b.height)),
                            travel: Math.min(...[...document.querySelectorAll('.fader')]
                                             .map(f => r(f).height)),
                            masterRight: r(master).right,
                            bodyW: document.documentElement.scrollWidth,
                        };
                    }""")
                    assert sizes["capH"] >= 30 and sizes["capW"] >= 36, (name, sizes)
                    assert sizes["buttonH"] >= 32, (name, sizes)
                    assert sizes["travel"] >= 200, (name, sizes)  # room to ride a fader
                    # The output strip is on screen and nothing spills sideways.
                    assert sizes["masterRight"] <= viewport["width"], (name, sizes)
                    assert sizes["bodyW"] <= viewport["width"], (name, sizes)

    asyncio.run(scenario())
    assert all((out / f"{n}.png").stat().st_size > 5000
               for n in ("engineer-phone", "engineer-tablet", "artist-phone"))
