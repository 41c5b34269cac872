"""A real server and a real browser for the page tests: the app served by uvicorn on a loopback
port in a thread, and Debian's headless Chromium driven by selenium through Debian's chromedriver
(`make browser` installs both in CI)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
WAIT_SECONDS = 10  # every explicit wait in a page test; a page here answers in well under a second
POLL_SECONDS = 0.05  # selenium's default half second would be most of each step's time
START_SECONDS = 15  # for the server to answer, and to stop


def listening_socket() -> socket.socket:
    """A socket already listening on a free loopback port: the port is known (the issuer names it)
    before the server starts, and no other process can take it in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[str]:
    """Serve `app` with uvicorn on `sock` in a background thread; yields the base URL
    http://localhost:port (a secure context for WebAuthn, unlike a bare address in some browsers)."""
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    try:
        _wait_until_answering(f"http://127.0.0.1:{port}/", thread)
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_SECONDS)
        sock.close()  # uvicorn closes it too; twice is harmless
        assert not thread.is_alive(), "the uvicorn thread did not stop"


def _wait_until_answering(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_SECONDS
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise AssertionError("uvicorn stopped while starting (see the captured log)")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise AssertionError(f"the server at {url} did not answer within {START_SECONDS} s")


def require_chromedriver() -> None:
    """Skip without the browser on a developer's machine; under CI=true its absence is a failure."""
    missing = [path for path in (CHROMEDRIVER, CHROMIUM) if not Path(path).exists()]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver, or `make browser`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: browser tests must not skip in CI")
        pytest.skip(reason)


def headless_chromium() -> WebDriver:
    """Debian's Chromium, headless, through Debian's chromedriver (so selenium-manager never runs)."""
    require_chromedriver()
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for CSP reports
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver: WebDriver, ignored: tuple[type[Exception], ...] = ()) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=POLL_SECONDS, ignored_exceptions=ignored)


def press(browser: WebDriver, id_: str) -> None:
    """Click what may be under a page's sticky header (the chart's) once scrolled to."""
    element = browser.find_element(By.ID, id_)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def shoot(browser: WebDriver, name: str) -> None:
    """The page as it is now, saved as `name` into the folder $LIFELINE_SHOTS names (docs/screenshots
    keeps the main ones); nothing without it, so a test run leaves the repository's pictures alone."""
    folder = os.environ.get("LIFELINE_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / name))


def photograph(browser: WebDriver, name: str, width: int, height: int) -> None:
    """The window set to `width` x `height` (the test goes on at that size), then `shoot`."""
    browser.set_window_size(width, height)
    shoot(browser, name)
