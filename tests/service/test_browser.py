"""The browser experience, in a real headless Chromium driven by Playwright.

Debian's ``chromium`` package (``apt-get install chromium``) is driven through Playwright's
``executable_path``: no browser download. Every request the page makes is recorded, and
any to a host other than the server's is refused, so the checks below also prove the pages
work without internet. Screenshots go to ``test-artifacts/browser/``. Without Chromium or
Playwright the tests skip, except under ``CI=true`` where that is a failure.
``GRAPHOPT_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from service_models import variant
from service_server import Server

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
UPLOAD_OPERATION = "#operations-models-upload_model_v1_models_post"


def _missing(what: str) -> None:
    message = (
        f"{what} is not installed: the browser tests need Debian's chromium "
        "(`apt-get install -y chromium`) and the `playwright` package (the `test` extra)."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _chromium() -> str:
    """``GRAPHOPT_CHROMIUM`` when set (and only it), else Debian's chromium."""
    configured = os.environ.get("GRAPHOPT_CHROMIUM")
    for candidate in (configured,) if configured else CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    _missing(f"chromium ({configured})" if configured else "chromium")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright")
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


class Recorder:
    """A page whose every request is recorded; requests to other hosts are aborted."""

    def __init__(self, browser: object) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.urls: list[str] = []
        self.page.route("**/*", self._route)

    def _route(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        self.urls.append(url)
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()  # type: ignore[attr-defined]
        else:
            route.abort()  # type: ignore[attr-defined]

    def foreign(self) -> list[str]:
        """Requests to anything but the local server (data: and blob: URLs are not requests)."""
        return [
            url
            for url in self.urls
            if urlsplit(url).scheme not in ("data", "blob")
            and urlsplit(url).hostname not in LOCAL_HOSTS
        ]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def recorder(browser: object) -> Iterator[Recorder]:
    page = Recorder(browser)
    yield page
    page.close()


def test_docs_and_redoc_render_offline(recorder: Recorder, server: Server) -> None:
    page = recorder.page
    page.goto(f"{server.base_url}/docs")
    page.wait_for_selector(UPLOAD_OPERATION, timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    recorder.screenshot("docs.png")
    page.goto(f"{server.base_url}/redoc")
    page.get_by_role("heading", name="Upload a model").first.wait_for(timeout=30_000)
    recorder.screenshot("redoc.png")
    assert recorder.urls, "no request recorded"
    assert recorder.foreign() == []


def test_upload_through_swagger_try_it_out(
    recorder: Recorder, server: Server, tmp_path: Path
) -> None:
    model = tmp_path / "swagger.onnx"
    model.write_bytes(variant(80))  # content no other test uploads: answered 201, not 200
    page = recorder.page
    page.goto(f"{server.base_url}/docs")
    operation = page.locator(UPLOAD_OPERATION)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[type=file]").set_input_files(str(model))
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tr.response td.response-col_status")
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "201"
    body = operation.locator(".live-responses-table tr.response td.response-col_description")
    assert '"sha256"' in body.inner_text() and "swagger.onnx" in body.inner_text()
    recorder.screenshot("docs_upload_201.png")
    assert recorder.foreign() == []


def test_job_page_renders_its_images(
    recorder: Recorder, server: Server, profiled_job: dict
) -> None:
    page = recorder.page
    page.goto(f"{server.base_url}/v1/jobs/{profiled_job['id']}/view")
    page.wait_for_load_state("load")
    widths = page.eval_on_selector_all(
        "img", "images => images.map(i => i.complete ? i.naturalWidth : 0)"
    )
    assert len(widths) == 2 and all(width > 0 for width in widths), widths
    assert page.locator("h2", has_text="Passes").count() == 1
    recorder.screenshot("job_page.png")
    assert recorder.foreign() == []
