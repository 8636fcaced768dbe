"""The dashboard (issue 18) in a real headless chromium: the live SolaraViz page steps the ieee33 simulation and
plays a day; the ``/runs`` page shows a finished run folder's day from its files.

Every page must work offline: a console error, an uncaught exception, a request to a non-loopback host or a blank
render fails the test (``PageWatch`` in ``conftest.py``). Screenshots go to ``$BROWSER_SHOTS`` (see ``conftest.py``)."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

#: CSS classes of the panels (app/components.py) and the folder chooser (app/run_page.py); the clock reads
#: "day 1 · quarter-hour 0/96 · 00:00" before the first step, "day 1 · quarter-hour 4/96 · 01:00" after four.
CLOCK = ".coopgrid-clock"
NETWORK = ".coopgrid-network"
PRICES = ".coopgrid-prices"
KPIS = ".coopgrid-kpis"
DAYS = ".coopgrid-days"
RUN_SELECT = ".coopgrid-run-select"
#: A drawn chart inside a panel: an svg (Vega-Lite rendered by vl-convert) or a canvas (vega-embed).
CHART = "canvas, svg"
#: Longest waits (milliseconds): the first render of a page, one step, playing the rest of a day.
FIRST_RENDER_MS = 90_000
STEP_MS = 30_000
PLAY_DAY_MS = 240_000
#: The live page's model parameters and their defaults (the sidebar's Selects: label, then the value shown).
DEFAULT_CHOICES = (("scenario", "ieee33"), ("mode", "cooperative"), ("replay", "oracle"))
#: Steps pressed one by one on the live page.
STEPS = 4
#: Fewest pixels that must change in a chart after the steps (anti-aliasing noise is deterministic, so the
#: same drawing gives zero).
MIN_CHANGED_PIXELS = 20
#: Text a page shows when a component or a model step raised (solara's traceback view, Mesa's error alert).
ERROR_MARKERS = ("Traceback (most recent call last)", "error in step", "error in visualization")

_CLOCK_RE = re.compile(r"day\s+(\d+)\s*·\s*quarter-hour\s+(\d+)\s*/\s*(\d+)")


def pixels(png: bytes) -> np.ndarray:
    """A PNG decoded to an ``(height, width, 4)`` RGBA array (pixels, not the bytes of the file)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def changed_pixels(a: bytes, b: bytes) -> int:
    """How many pixels differ between two PNGs; every pixel of the larger one when their sizes differ."""
    pa, pb = pixels(a), pixels(b)
    if pa.shape != pb.shape:
        return max(pa.shape[0] * pa.shape[1], pb.shape[0] * pb.shape[1])
    return int(np.any(pa != pb, axis=2).sum())


def colours(png: bytes) -> int:
    """The number of distinct colours in a PNG (1 for a blank, single-colour render)."""
    p = pixels(png).reshape(-1, 4)
    return len(np.unique(p, axis=0))


def save(shots: Path, name: str, png: bytes) -> bytes:
    """Write ``png`` to ``shots/name`` and hand it back."""
    (shots / name).write_bytes(png)
    return png


def assert_page_alive(page: Any, watch: Any, where: str, png: bytes) -> None:
    """The page has text in its body, its screenshot ``png`` is not a single colour, it shows no traceback or
    step-error alert, and its ``PageWatch`` (``conftest.py``) is clean."""
    body = page.inner_text("body").strip()
    assert body, f"{where}: blank page (the body has no text)"
    assert colours(png) > 1, f"{where}: blank page (the screenshot is a single colour)"
    for marker in ERROR_MARKERS:
        assert marker not in body, f"{where}: the page shows an error:\n{body[body.find(marker):][:1500]}"
    watch.assert_clean(where)


#: Resolves to ``"error"`` as soon as the page shows one of the :data:`ERROR_MARKERS`, or to ``"ready"`` once the
#: selector's element is displayed.
_READY_OR_ERROR = """([sel, markers]) => { const t = document.body ? document.body.innerText : '';
  if (markers.some(m => t.includes(m))) return 'error';
  const e = document.querySelector(sel); return e && e.getClientRects().length > 0 ? 'ready' : false; }"""


def fail_on_page_error(page: Any, where: str) -> None:
    """Fail with the error the page shows (a traceback or Mesa's step-error alert), if it shows one."""
    body = page.inner_text("body")
    for marker in ERROR_MARKERS:
        if marker in body:
            pytest.fail(f"{where}: the page shows an error:\n{body[body.find(marker):][:2000]}")


def wait_ready(page: Any, selector: str, where: str, timeout_ms: int = FIRST_RENDER_MS) -> None:
    """Wait until ``selector`` is displayed; fail at once, with its text, if the page shows an error instead."""
    state = page.wait_for_function(_READY_OR_ERROR, arg=[selector, list(ERROR_MARKERS)], polling=250,
                                   timeout=timeout_ms).json_value()
    if state == "error":
        fail_on_page_error(page, where)


def chart_of(page: Any, container: str, timeout_ms: int = FIRST_RENDER_MS) -> Any:
    """The container's element, once a chart (canvas or svg, width and height > 0) is drawn inside it."""
    page.wait_for_function(
        """([sel, chart]) => { const c = document.querySelector(sel);
             if (!c) return false;
             return [...c.querySelectorAll(chart)].some(e => { const r = e.getBoundingClientRect();
                                                             return r.width > 0 && r.height > 0; }); }""",
        arg=[container, CHART], timeout=timeout_ms)
    return page.locator(container).first


def settled_screenshot(locator: Any, timeout_s: float = 15.0) -> bytes:
    """A screenshot of ``locator`` taken once two successive screenshots (0.3 s apart) have the same pixels, so a
    chart still being drawn is not caught half-way; the last one if it never settles within ``timeout_s``."""
    last = locator.screenshot()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = locator.screenshot()
        if changed_pixels(last, now) == 0:
            return now
        last = now
    return last


def wait_until_changed(locator: Any, before: bytes, timeout_s: float = 20.0) -> tuple[bytes, int]:
    """The first settled screenshot of ``locator`` whose pixels differ from ``before`` by at least
    :data:`MIN_CHANGED_PIXELS` (and that count); the last one taken if none does within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = settled_screenshot(locator, timeout_s=5.0)
        n = changed_pixels(before, now)
        if n >= MIN_CHANGED_PIXELS or time.monotonic() > deadline:
            return now, n
        time.sleep(0.5)


def clock_text(page: Any) -> str:
    """The live page's clock text, whitespace collapsed."""
    return " ".join(page.locator(CLOCK).first.inner_text().split())


def parse_clock(text: str) -> tuple[int, int, int]:
    """``(day, quarter-hour, quarter-hours per day)`` read from the clock text; fails naming the text."""
    m = _CLOCK_RE.search(text)
    assert m, f"the clock {CLOCK} reads {text!r}, not 'day D · quarter-hour Q/N'"
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def quarter_index(clock: str, per_day: int) -> int:
    """Quarter-hours since the run's start read from a clock text (day 1 quarter-hour 0 is 0)."""
    day, quarter, _ = parse_clock(clock)
    return (day - 1) * per_day + quarter


def settled_clock(page: Any, quiet_s: float = 1.5, timeout_s: float = STEP_MS / 1000) -> str:
    """The clock's text once it has not changed for ``quiet_s`` seconds (a step already under way when Pause is
    pressed still finishes); fails if it keeps moving for ``timeout_s``."""
    last = clock_text(page)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = clock_text(page)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the clock still moves {timeout_s:.0f} s after pausing (now {last!r})")


#: Installed on the live page: the time (``performance.now()``, ms) of the last click on the "Step" button,
#: taken in the capture phase on the document so it survives re-renders of the button (``textContent``: the
#: button's CSS writes it in capitals).
_RECORD_STEP_CLICKS = """() => { window.__coopgridStepClick = null;
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b && b.textContent.trim() === 'Step') window.__coopgridStepClick = performance.now();
  }, true); }"""
#: Resolves, on an animation frame, to ``performance.now()`` once the clock's text differs from ``old``.
#: Resolves to ``-1`` instead if the page shows an error (Mesa's alert "error in step: ...", a traceback).
_CLOCK_CHANGED = """([old, markers]) => { const body = document.body ? document.body.innerText : '';
  if (markers.some(m => body.includes(m))) return -1;
  const e = document.querySelector('.coopgrid-clock');
  if (!e) return false; const t = e.innerText.split(/\\s+/).join(' ').trim();
  return t !== old ? performance.now() : false; }"""
#: Resolves, on an animation frame where the clock shows day 2 (or the last quarter-hour of the day), to that
#: frame's clock and KPI strip texts, once the strip has numbers or the clock has moved past the day's close (the
#: strip shows the closed day only until the next day's first step, and it may be patched a frame after the clock).
_DAY_CLOSED = """(perDay) => { const e = document.querySelector('.coopgrid-clock'); if (!e) return false;
  const m = e.innerText.match(/day\\s+(\\d+)\\s*·\\s*quarter-hour\\s+(\\d+)/);
  if (!m || (Number(m[1]) < 2 && Number(m[2]) < perDay)) return false;
  const k = document.querySelector('.coopgrid-kpis'); const kpis = k ? k.innerText : '';
  if (!/\\d/.test(kpis.replace(/day \\d+/, '')) && Number(m[1]) >= 2 && Number(m[2]) === 0) return false;
  return {clock: e.innerText.split(/\\s+/).join(' ').trim(), kpis: kpis}; }"""


def press_step(page: Any) -> float:
    """Click "Step" once, wait until the clock's text changes, and return the milliseconds from the click event
    to the first animation frame showing the new clock (both measured inside the page)."""
    before = clock_text(page)
    page.get_by_role("button", name="Step", exact=True).click()
    changed_at = page.wait_for_function(_CLOCK_CHANGED, arg=[before, list(ERROR_MARKERS)], polling="raf",
                                        timeout=STEP_MS).json_value()
    if changed_at == -1:
        fail_on_page_error(page, f"live page / Step from {before!r}")
    clicked_at = page.evaluate("() => window.__coopgridStepClick")
    assert clicked_at is not None, "the click on 'Step' was not seen by the page"
    return float(changed_at) - float(clicked_at)


def sim1_total_cost_text(runs_dir: Path) -> str:
    """The total cost of ``sim1``'s one day (``kpis.csv``) written as the KPI strip writes it
    (``app.views.KPI_STRIP``)."""
    from app.views import KPI_STRIP

    fmt = next(f for col, _, f in KPI_STRIP if col == "total_cost")
    path = runs_dir / "sim1" / "kpis.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1, f"{path} should hold one day of one run, it holds {len(rows)} rows"
    return str(fmt.format(float(rows[0]["total_cost"])))


def test_live_page_steps_and_plays_a_day(dashboard: str, runs_dir: Path, watched_page: tuple[Any, Any],
                                         shots: Path) -> None:
    """Load "/" (ieee33, cooperative, oracle, seed 0: the run of ``sim1``), step 4 quarter-hours one click at a
    time (the clock reads quarter-hour 4; the network and price panels are redrawn with other pixels, and the
    network again between quarter-hours 1 and 4), then play until the day closes (its KPI strip shows ``sim1``'s
    total cost: the same engine, seed and day), pause (the clock stops) and Reset (back to quarter-hour 0)."""
    page, watch = watched_page
    page.goto(dashboard + "/", wait_until="domcontentloaded")
    wait_ready(page, CLOCK, "live page /")
    network, prices = page.locator(NETWORK).first, page.locator(PRICES).first
    network.wait_for(timeout=FIRST_RENDER_MS)
    prices.wait_for(timeout=FIRST_RENDER_MS)
    assert parse_clock(clock_text(page))[:2] == (1, 0), f"the clock before any step reads {clock_text(page)!r}"
    sidebar = " ".join(page.inner_text("body").split())
    for label, default in DEFAULT_CHOICES:
        assert f"{label} {default}" in sidebar, f"the sidebar should offer {label!r} set to {default!r}: {sidebar!r}"
    page.mouse.move(0, 0)  # no tooltip over a chart
    net_before = save(shots, "live-01-network-before-steps.png", settled_screenshot(network))
    prices_before = save(shots, "live-02-prices-before-steps.png", settled_screenshot(prices))
    start = save(shots, "live-00-page-before-steps.png", page.screenshot(full_page=True))
    assert_page_alive(page, watch, "live page / before the first step", start)

    page.evaluate(_RECORD_STEP_CLICKS)
    latencies = [press_step(page)]
    chart_of(page, NETWORK, STEP_MS)
    chart_of(page, PRICES, STEP_MS)
    page.mouse.move(0, 0)
    net_first = save(shots, "live-03-network-after-1-step.png", settled_screenshot(network))
    prices_first = save(shots, "live-03-prices-after-1-step.png", settled_screenshot(prices))
    latencies += [press_step(page) for _ in range(STEPS - 1)]
    day, quarter, per_day = parse_clock(clock_text(page))
    assert (day, quarter) == (1, STEPS), f"after {STEPS} clicks on Step the clock reads {clock_text(page)!r}"
    page.mouse.move(0, 0)
    net_after, net_changed = wait_until_changed(network, net_before)
    prices_after, prices_changed = wait_until_changed(prices, prices_before)
    save(shots, f"live-04-network-after-{STEPS}-steps.png", net_after)
    save(shots, f"live-05-prices-after-{STEPS}-steps.png", prices_after)
    stepped = save(shots, f"live-06-page-after-{STEPS}-steps.png", page.screenshot(full_page=True))
    assert net_changed >= MIN_CHANGED_PIXELS, (
        f"the network panel {NETWORK} has the same pixels after {STEPS} steps as before ({net_changed} changed)")
    assert prices_changed >= MIN_CHANGED_PIXELS, (
        f"the price panel {PRICES} has the same pixels after {STEPS} steps as before ({prices_changed} changed)")
    for name, first, after in (("network", net_first, net_after), ("price", prices_first, prices_after)):
        moved = changed_pixels(first, after)
        assert moved >= MIN_CHANGED_PIXELS, (
            f"the {name} panel is drawn the same at quarter-hours 1 and {STEPS} ({moved} pixels changed)")
    timings = shots / "live-step-timings.txt"
    timings.write_text(f"step in the page (click -> clock redrawn), ms: {', '.join(f'{x:.0f}' for x in latencies)} "
                       "(the first runs the day's solves)\n")
    assert_page_alive(page, watch, f"live page / after {STEPS} steps", stepped)

    play_started = time.monotonic()
    page.get_by_role("button", name="▶", exact=True).click()
    closed = page.wait_for_function(_DAY_CLOSED, arg=per_day, polling="raf", timeout=PLAY_DAY_MS).json_value()
    play_s = time.monotonic() - play_started
    pause = page.get_by_role("button", name="❚❚", exact=True)
    clicked_at = clock_text(page)
    if pause.is_enabled():  # a model that ended stops on its own (Mesa then disables the button)
        pause.click()
        page.get_by_role("button", name="▶", exact=True).wait_for(timeout=STEP_MS)
    paused_at = settled_clock(page)
    moved = quarter_index(paused_at, per_day) - quarter_index(clicked_at, per_day)
    assert 0 <= moved <= 2, (f"pausing should stop the run within the step in flight, but the clock went from "
                             f"{clicked_at!r} to {paused_at!r}")
    expected = sim1_total_cost_text(runs_dir)
    assert "total cost" in closed["kpis"] and expected in closed["kpis"], (
        f"when the clock turned to {closed['clock']!r} the KPI strip {KPIS} should show day 1's total cost "
        f"{expected} (sim1/kpis.csv: same scenario, mode, replay and seed), but it read {closed['kpis']!r}")
    chart_of(page, DAYS, STEP_MS)  # the cost-per-day chart exists once a day has closed
    page.mouse.move(0, 0)
    after_day = save(shots, "live-07-page-after-the-day.png", page.screenshot(full_page=True))
    assert_page_alive(page, watch, "live page / after playing the day", after_day)

    page.get_by_role("button", name="Reset", exact=True).click()
    if page.wait_for_function(_CLOCK_CHANGED, arg=[paused_at, list(ERROR_MARKERS)], timeout=STEP_MS).json_value() == -1:
        fail_on_page_error(page, "live page / Reset")
    assert parse_clock(clock_text(page))[:2] == (1, 0), f"after Reset the clock reads {clock_text(page)!r}"

    played = (f"play from quarter-hour {STEPS} to {closed['clock']!r}: {play_s:.1f} s "
              f"({play_s / max(per_day - STEPS, 1) * 1000:.0f} ms per quarter-hour)\n")
    timings.write_text(timings.read_text() + played)
    print(timings.read_text())


def test_runs_page_shows_a_finished_run(dashboard: str, runs_dir: Path, watched_page: tuple[Any, Any],
                                        shots: Path) -> None:
    """Load "/runs" and choose the ``sim1`` folder: the KPI strip shows the total cost of ``sim1/kpis.csv`` (as the
    page formats it) and the network view of that day is drawn."""
    page, watch = watched_page
    page.goto(dashboard + "/runs", wait_until="domcontentloaded")
    wait_ready(page, RUN_SELECT, "runs page /runs")
    page.locator(RUN_SELECT).first.click()
    page.get_by_role("option", name="sim1", exact=True).click()
    wait_ready(page, KPIS, "runs page /runs, folder sim1", timeout_ms=STEP_MS)
    expected = sim1_total_cost_text(runs_dir)
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); return !!e && e.innerText.includes(text); }",
        arg=[KPIS, expected], timeout=STEP_MS)
    kpis = page.locator(KPIS).first.inner_text()
    assert "total cost" in kpis and expected in kpis, f"the KPI strip {KPIS} reads {kpis!r}, not sim1's {expected}"
    network = chart_of(page, NETWORK, timeout_ms=STEP_MS)
    page.mouse.move(0, 0)
    net = save(shots, "runs-01-sim1-network.png", settled_screenshot(network))
    assert colours(net) > 2, "the run's network panel is drawn in fewer than 3 colours"
    whole = save(shots, "runs-00-page-sim1-day1.png", page.screenshot(full_page=True))
    assert_page_alive(page, watch, "runs page / sim1", whole)
