"""The job page, ``GET /v1/jobs/{id}/view``, over real HTTP: its sections, inlined images,
download links, escaping, and the self-reload of unfinished jobs."""

from __future__ import annotations

import base64
import re
import time
from html.parser import HTMLParser

import httpx
from service_models import slow_model, variant


class _Page(HTMLParser):
    """Collects the page's tags with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_job_page_shows_what_the_job_did(client: httpx.Client, profiled_job: dict) -> None:
    response = client.get(f"/v1/jobs/{profiled_job['id']}/view")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for heading in (
        "Before / after",
        "Latency",
        "Session tuning",
        "Activation memory",
        "Passes",
        "Verification",
        "Downloads",
    ):
        assert f"<h2>{heading}</h2>" in html or f"<h3>{heading}</h3>" in html, heading
    assert "succeeded" in html and "Recommended:" in html
    report = client.get(f"/v1/jobs/{profiled_job['id']}/artifacts/report.json").json()
    for record in report["passes"]:
        assert f"<td>{record['name']}" in html
    assert report["verification"]["status"] == "passed"

    page = _parse(html)
    images = {img["alt"]: img["src"] or "" for img in page.find("img")}
    assert len(images) == 2, images.keys()
    for src in images.values():
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    # nothing outside the page: no script, no stylesheet link, no absolute URL anywhere
    assert not page.find("script") and not page.find("link")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)

    links = [a["href"] or "" for a in page.find("a")]
    names = {a["name"] for a in profiled_job["artifacts"]}
    assert {"op_latency.png", "memory_timeline.png", "report.json"} <= names
    assert {f"/v1/jobs/{profiled_job['id']}/artifacts/{n}" for n in names} == set(links)
    for link in links:
        assert client.get(link).status_code == 200, link


def test_job_page_escapes_what_it_shows(client: httpx.Client, profiled_job: dict) -> None:
    html = client.get(f"/v1/jobs/{profiled_job['id']}/view").text
    assert "y&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script" not in html


def test_unfinished_job_page_reloads_itself(client: httpx.Client) -> None:
    model = client.post(
        "/v1/models", files={"file": ("slow.onnx", slow_model(), "application/octet-stream")}
    ).json()
    job = client.post("/v1/jobs", json={"model_id": model["id"]}).json()
    try:
        html = client.get(f"/v1/jobs/{job['id']}/view").text
        assert '<meta http-equiv=refresh content="2">' in html
        assert "Not profiled" not in html or "queued" in html or "running" in html
    finally:
        client.post(f"/v1/jobs/{job['id']}/cancel")


def _final_page(client: httpx.Client, model: bytes, job: dict[str, object]) -> str:
    """Upload ``model``, create the job (``job`` adds to its body) and return its page once
    the job has ended (the page stops refreshing itself)."""
    upload = client.post(
        "/v1/models", files={"file": ("m.onnx", model, "application/octet-stream")}
    )
    job_id = client.post("/v1/jobs", json={"model_id": upload.json()["id"], **job}).json()["id"]
    html = ""
    for _ in range(300):
        html = client.get(f"/v1/jobs/{job_id}/view").text
        if "http-equiv=refresh" not in html:
            break
        time.sleep(0.1)
    return html


def test_failed_job_page_shows_the_error(client: httpx.Client) -> None:
    html = _final_page(client, slow_model(), {"limits": {"timeout_s": 1}})
    assert '<span class="badge failed">failed</span>' in html
    assert "<h2>Error</h2>" in html and "<b>timeout</b>" in html and "wall clock 1" in html


def test_job_page_of_an_unprofiled_job_says_so(client: httpx.Client) -> None:
    html = _final_page(client, variant(71), {"options": {"verify": False}})
    assert "Not profiled" in html and "<img" not in html
    assert "<h2>Passes</h2>" in html and "skipped" in html


def test_job_page_of_an_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/jobs/job_nope/view")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
