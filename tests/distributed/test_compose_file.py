"""docker-compose.yml and docker/Dockerfile, checked structurally (Docker does not run here;
the same topology runs without containers in test_distributed_cluster.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_topology_is_health_gated() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"api", "worker", "redis", "postgres", "minio", "minio-init"}
    for name in ("api", "worker", "redis", "postgres", "minio"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        for dependency in ("postgres", "redis", "minio"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
        environment = services[name]["environment"]
        assert environment["GRAPHOPT_QUEUE_URL"].startswith("redis://redis:")
        assert environment["GRAPHOPT_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert environment["GRAPHOPT_BLOB_URL"].startswith("s3://")
        assert environment["GRAPHOPT_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["api"]["command"] == ["graphopt", "serve", "--no-worker"]
    assert services["worker"]["command"] == ["graphopt", "worker"]
    # Scalable: no fixed ports, names or volumes on the worker.
    assert not {"ports", "container_name", "volumes"} & set(services["worker"])
    assert "local/graphopt" in " ".join(services["minio-init"]["entrypoint"])
    # Named volumes for every stateful service.
    named = set(compose["volumes"])
    for name in ("api", "postgres", "redis", "minio"):
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in named, (name, volume)


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M)
    assert len(stages) >= 2, stages
    assert re.search(r"^COPY --from=build ", text, flags=re.M)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and all(not user.startswith(("root", "0")) for user in users)
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD", text, flags=re.M)
    assert (ROOT / "docker" / "healthcheck.py").is_file()
