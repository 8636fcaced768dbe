"""Fixtures of the dashboard's browser test (issue 18): a finished one-day run folder, the dashboard served by
``run_sim.py app`` on a free loopback port in its own process group, Debian's chromium driven by Playwright, and a
watch on every page that records what the page must never do offline (console errors, uncaught exceptions,
requests to a host other than this machine).

Run with ``make test-browser`` (``-m browser -p no:xdist``; screenshots in ``$BROWSER_SHOTS``). ``make test`` leaves
these tests out (``-m "not browser"``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

#: The repository root: ``run_sim.py`` is started from here.
REPO = Path(__file__).resolve().parents[2]
#: Longest wait for the server's first HTTP 200 on ``/`` (seconds); solara imports its widgets on start.
SERVER_START_TIMEOUT_S = 120.0
#: Host names that are this machine; a request to any other host is a failure (the page must work offline).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: URL schemes that never leave the browser.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
#: Browser window of every page (CSS pixels): tall, since solara scrolls the main area inside the window and a
#: full-page screenshot shows only what the window shows.
VIEWPORT = {"width": 1440, "height": 2000}


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (or a note that it is missing), for failure messages."""
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(empty log)"


def is_local_url(url: str) -> bool:
    """True if ``url`` stays on this machine: a ``data:``/``blob:``/``about:`` URL, or any scheme whose host is
    a loopback name (127.0.0.1, localhost, ::1)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS


@dataclass
class PageWatch:
    """What one page did that the offline dashboard must never do: console messages of type ``error``, uncaught
    exceptions (``pageerror``), and requests or websockets to a host that is not loopback."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        """Listen to ``page``'s console, errors, requests and websockets."""

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                loc = msg.location or {}
                self.console_errors.append(f"{msg.text} (at {loc.get('url', '?')}:{loc.get('lineNumber', '?')})")

        def on_request(request: Any) -> None:
            if not is_local_url(request.url):
                self.foreign_requests.append(f"{request.method} {request.url}")

        def on_websocket(ws: Any) -> None:
            if not is_local_url(ws.url):
                self.foreign_requests.append(f"WEBSOCKET {ws.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("request", on_request)
        page.on("websocket", on_websocket)

    def problems(self) -> list[str]:
        """Every recorded problem, one line each (empty when the page behaved)."""
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"request to a non-loopback host: {m}" for m in self.foreign_requests])

    def assert_clean(self, where: str) -> None:
        """Fail naming every console error, page error and non-loopback request seen so far on ``where``."""
        problems = self.problems()
        assert not problems, f"{where}: the page must load and run offline without errors, but:\n" + "\n".join(
            problems)


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it: bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_status(url: str) -> int | None:
    """The HTTP status of GET ``url`` without any proxy (None if nothing answers yet)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End the server's process group (it was started with ``start_new_session``): SIGTERM, then SIGKILL after
    10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def chromium_executable() -> str:
    """Debian's chromium (Playwright cannot download its own browsers here); fails naming ``make chromium``."""
    import shutil

    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser test needs Debian's chromium on PATH and there is none: run `make chromium` "
                    "(apt-get install chromium); Playwright's own browser download is not available here")
    return path


@pytest.fixture(scope="module", autouse=True)
def _chromium_first(chromium_executable: str) -> str:
    """Check for chromium before the run folder and the server are made (autouse fixtures come first)."""
    return chromium_executable


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one finished run, ``sim1``: ieee33, one day, cooperative (``run_sim.py simulate``)."""
    runs = tmp_path_factory.mktemp("runs")
    cmd = [sys.executable, "run_sim.py", "simulate", "--scenario", "ieee33", "--days", "1", "--mode",
           "cooperative", "--out", str(runs / "sim1"), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not (runs / "sim1" / "kpis.csv").exists():
        pytest.fail(f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}) making the run folder of the "
                    f"browser test:\n{proc.stderr[-3000:]}")
    return runs


@pytest.fixture(scope="module")
def dashboard(runs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:P``) of ``run_sim.py app --runs <runs_dir>`` on a free port, started in
    its own process group once ``/`` answers HTTP 200; the group is ended at teardown."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "app.log"
    cmd = [sys.executable, "run_sim.py", "app", "--host", "127.0.0.1", "--port", str(port), "--runs",
           str(runs_dir)]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        status: int | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(cmd[1:])}` exited with code {proc.returncode} before serving; "
                            f"its log ({log}) ends:\n{log_tail(log)}")
            status = _http_status(base + "/")
            if status == 200:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"`{' '.join(cmd[1:])}` did not answer HTTP 200 on / within {SERVER_START_TIMEOUT_S:.0f} s "
                        f"(last status: {status}); its log ({log}) ends:\n{log_tail(log)}")
        yield base
    finally:
        _stop_group(proc)


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Any]:
    """Headless chromium through Playwright (``--no-sandbox``: the tests run as root; no proxy, so nothing can
    reach the internet behind the watch's back)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_executable, headless=True,
                              args=["--no-sandbox", "--no-proxy-server", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item (``item.rep_call``), so a fixture can tell the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture
def watched_page(browser: Any, shots: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Any, PageWatch]]:
    """A fresh page (its own browser context, :data:`VIEWPORT`) and the :class:`PageWatch` listening to it.  When
    the test fails, the page as it was is saved as ``FAILED-<test>.png`` beside the screenshots, and the watch's
    record and the page's text are printed (the report's captured teardown output)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        yield page, watch
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                page.screenshot(path=str(shots / f"FAILED-{request.node.name}.png"), full_page=True)
                body = page.inner_text("body")
            except Exception as exc:  # the page itself may be what broke
                body = f"(could not read the page: {exc})"
            print("page problems:\n" + ("\n".join(watch.problems()) or "(none)") + "\npage text:\n" + body[:4000])
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$BROWSER_SHOTS`` (``make test-browser`` sets it) or the test's ``tmp_path``."""
    env = os.environ.get("BROWSER_SHOTS")
    out = Path(env) if env else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out
