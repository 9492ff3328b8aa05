"""Job options that reach the engine through the API: measured selection and session tuning."""

from __future__ import annotations

import httpx
from service_models import variant
from service_server import Server
from sse import follow


def _model(client: httpx.Client, seed: int) -> str:
    response = client.post(
        "/v1/models", files={"file": ("m.onnx", variant(seed), "application/octet-stream")}
    )
    assert response.status_code in (200, 201), response.text
    model_id: str = response.json()["id"]
    return model_id


def _run(client: httpx.Client, body: dict) -> tuple[dict, dict]:
    job = client.post("/v1/jobs", json=body)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    events = follow(client, job_id)
    assert events[-1].data["status"] == "succeeded", events[-1].data
    resource = client.get(f"/v1/jobs/{job_id}").json()
    report = client.get(f"/v1/jobs/{job_id}/artifacts/report.json").json()
    return resource, report


def test_select_runs_measured_selection(client: httpx.Client) -> None:
    model_id = _model(client, 90)
    resource, report = _run(
        client,
        {
            "model_id": model_id,
            "options": {"select": {"max_seconds": 1, "min_runs": 5, "max_runs": 5}},
        },
    )
    assert resource["options"]["select"]["enabled"] is True
    assert resource["options"]["select"]["max_seconds"] == 1
    selection = report["selection"]
    assert selection["status"] == "done", selection
    names = {candidate["name"] for candidate in selection["candidates"]}
    assert "original" in names and selection["chosen"] in names
    html = client.get(f"/v1/jobs/{resource['id']}/view").text
    assert "<h2>Measured selection</h2>" in html


def test_select_is_off_unless_asked_and_true_turns_it_on(client: httpx.Client) -> None:
    model_id = _model(client, 91)
    resource, report = _run(client, {"model_id": model_id})
    assert resource["options"]["select"]["enabled"] is False
    assert report.get("selection") is None
    job = client.post("/v1/jobs", json={"model_id": model_id, "options": {"select": True}})
    assert job.json()["options"]["select"]["enabled"] is True
    client.post(f"/v1/jobs/{job.json()['id']}/cancel")


def test_invalid_select_and_tune_options_are_refused(client: httpx.Client) -> None:
    model_id = _model(client, 91)
    for options in (
        {"select": {"max_candidates": 1}},
        {"select": {"unknown": 1}},
        {"profile": {"tune": "often"}},
    ):
        response = client.post("/v1/jobs", json={"model_id": model_id, "options": options})
        assert response.status_code == 422, (options, response.text)
        assert response.json()["error"]["code"] in {"invalid_request", "invalid_options"}


def test_profile_tune_reaches_the_report(client: httpx.Client, profiled_job: dict) -> None:
    """The shared profiled job (tests/service/conftest.py) asked for ``profile.tune``."""
    assert profiled_job["options"]["profile"]["tune"] is True
    assert profiled_job["options"]["profile"]["enabled"] is True
    report = client.get(f"/v1/jobs/{profiled_job['id']}/artifacts/report.json").json()
    tuning = report["profile"]["tuning"]
    assert tuning["recommended"] == tuning["trials"][0]["session"]
    modes = {trial["session"]["execution_mode"] for trial in tuning["trials"]}
    assert modes == {"sequential", "parallel"}
    assert "op_latency.png" in {a["name"] for a in profiled_job["artifacts"]}


def test_sdk_reads_the_tuning_section_typed(server: Server, profiled_job: dict) -> None:
    from graphopt_client import Client

    with Client(server.base_url) as sdk:
        tuning = sdk.jobs.report(profiled_job["id"]).profile.tuning  # type: ignore[union-attr]
    assert tuning is not None and tuning.trials
    assert tuning.recommended.label() == tuning.trials[0].session.label()
