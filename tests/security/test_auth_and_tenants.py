"""API keys and tenants over real HTTP: 401 without a valid key, 404 across tenants,
deduplication and idempotency keys per tenant, admin keys, the SDK's header, the
``keys`` command and the refusal to serve unauthenticated on a public address."""

from __future__ import annotations

import os
import re
import subprocess

import httpx
import pytest
from secure_server import SecureServer, create_key
from service_models import variant
from service_server import free_port, graphopt_command

from graphopt.cli.serve import auth_banner
from graphopt.settings import Settings
from graphopt_client import Client
from graphopt_client._exceptions import AuthenticationError, NotFoundError


def _upload(client: httpx.Client, data: bytes) -> httpx.Response:
    return client.post("/v1/models", files={"file": ("model.onnx", data)})


def _job(client: httpx.Client, model_id: str, **extra: object) -> httpx.Response:
    return client.post(
        "/v1/jobs", json={"model_id": model_id, "pipeline": ["noop_elimination"], **extra}
    )


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer gok_not-a-key"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "basic", "empty"],
)
def test_missing_or_wrong_key_gets_401(secure: SecureServer, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=secure.server.base_url, headers=headers) as client:
        for method, path in (
            ("GET", "/v1/models"),
            ("POST", "/v1/models"),
            ("GET", "/v1/jobs"),
            ("GET", "/v1/jobs/job_x"),
            ("POST", "/v1/jobs"),
        ):
            response = client.request(method, path)
            assert _error(response) == (401, "unauthorized"), (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200  # probes need no key
        assert client.get("/readyz").status_code == 200


def test_another_tenant_gets_404_for_everything(secure: SecureServer) -> None:
    with secure.client("alice") as alice, secure.client("bob") as bob:
        model = _upload(alice, variant(901)).json()
        job = _job(alice, model["id"], limits={"timeout_s": 60}).json()
        mid, jid = model["id"], job["id"]
        for method, path in (
            ("GET", f"/v1/models/{mid}"),
            ("GET", f"/v1/models/{mid}/file"),
            ("GET", f"/v1/models/{mid}/graph"),
            ("DELETE", f"/v1/models/{mid}"),
            ("GET", f"/v1/jobs/{jid}"),
            ("GET", f"/v1/jobs/{jid}/events"),
            ("POST", f"/v1/jobs/{jid}/cancel"),
            ("GET", f"/v1/jobs/{jid}/artifacts/report.json"),
        ):
            response = bob.request(method, path)
            assert _error(response) == (404, "not_found"), (method, path, response.text)
        assert _error(_job(bob, mid)) == (404, "not_found")
        assert mid not in {m["id"] for m in bob.get("/v1/models").json()["data"]}
        assert jid not in {j["id"] for j in bob.get("/v1/jobs").json()["data"]}
        assert bob.get("/v1/jobs", params={"model_id": mid}).json()["data"] == []
        # the owner still has both, and the admin key sees every tenant's
        assert alice.get(f"/v1/models/{mid}").status_code == 200
        assert alice.get(f"/v1/jobs/{jid}").status_code == 200
    with secure.client("admin") as admin:
        assert admin.get(f"/v1/jobs/{jid}").status_code == 200
        assert mid in {m["id"] for m in admin.get("/v1/models").json()["data"]}


def test_deduplication_does_not_cross_tenants(secure: SecureServer) -> None:
    data = variant(902)
    with secure.client("alice") as alice, secure.client("bob") as bob:
        first = _upload(alice, data)
        again = _upload(alice, data)
        other = _upload(bob, data)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 201  # bob cannot tell that alice has the same file
    assert other.json()["id"] != first.json()["id"]


def test_idempotency_keys_are_per_tenant(secure: SecureServer) -> None:
    headers = {"Idempotency-Key": "same-key-for-both"}
    with secure.client("alice") as alice, secure.client("bob") as bob:
        a_model = _upload(alice, variant(903)).json()["id"]
        b_model = _upload(bob, variant(904)).json()["id"]
        a_job = alice.post(
            "/v1/jobs",
            json={"model_id": a_model, "pipeline": ["noop_elimination"]},
            headers=headers,
        )
        b_job = bob.post(
            "/v1/jobs",
            json={"model_id": b_model, "pipeline": ["noop_elimination"]},
            headers=headers,
        )
        assert (a_job.status_code, b_job.status_code) == (202, 202), b_job.text
        assert a_job.json()["id"] != b_job.json()["id"]
        assert "job_id" not in b_job.text.replace(b_job.json()["id"], "")
        for client, job in ((alice, a_job), (bob, b_job)):
            client.post(f"/v1/jobs/{job.json()['id']}/cancel")


def test_the_sdk_sends_its_api_key(secure: SecureServer) -> None:
    with secure.client("alice") as alice:
        model_id = _upload(alice, variant(905)).json()["id"]
    with Client(secure.server.base_url, api_key=secure.keys["alice"]) as client:
        assert model_id in [m.id for m in client.models.list()]
    with (
        Client(secure.server.base_url, api_key="gok_wrong") as client,
        pytest.raises(AuthenticationError),
    ):
        client.models.list()
    with (
        Client(secure.server.base_url, api_key=secure.keys["bob"]) as client,
        pytest.raises(NotFoundError),
    ):
        client.models.get(model_id)


def test_keys_command_prints_the_key_alone_and_revoke_works(secure: SecureServer) -> None:
    created = create_key(secure.data_dir, "carol")
    key = created.stdout
    assert re.fullmatch(r"gok_[A-Za-z0-9_-]{43}\n", key), key
    assert "carol" in created.stderr
    key = key.strip()
    with httpx.Client(
        base_url=secure.server.base_url, headers={"Authorization": f"Bearer {key}"}
    ) as carol:
        assert carol.get("/v1/models").status_code == 200
        revoked = subprocess.run(
            [*graphopt_command(), "keys", "revoke", key, "--data-dir", str(secure.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert revoked.stdout == "" and "revoked" in revoked.stderr
        assert _error(carol.get("/v1/models")) == (401, "unauthorized")
    # only the sha256 of a key is stored
    assert key.encode() not in (secure.data_dir / "graphopt.db").read_bytes()


def test_auth_defaults_follow_the_bind_address() -> None:
    assert not Settings(host="127.0.0.1").auth_required
    assert Settings(host="0.0.0.0").auth_required
    assert not Settings(host="0.0.0.0", insecure=True).auth_required
    assert Settings(host="127.0.0.1", auth="required").auth_required
    assert "required" in auth_banner(Settings(host="0.0.0.0"), keys_exist=False)
    assert "keys create" in auth_banner(Settings(host="0.0.0.0"), keys_exist=False)
    assert "anyone" in auth_banner(Settings(host="0.0.0.0", insecure=True), keys_exist=False)


def test_serve_refuses_auth_off_on_a_public_address(tmp_path) -> None:
    environment = {**os.environ, "GRAPHOPT_AUTH": "off"}
    command = [
        *graphopt_command(),
        "serve",
        *("--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(tmp_path)),
    ]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "insecure_bind" in result.stderr and "--insecure" in result.stderr
