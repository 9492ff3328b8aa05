"""The client and the remote CLI import, and work, without onnx, onnxruntime, fastapi,
networkx or numpy: a fresh interpreter where importing those raises ImportError."""

from __future__ import annotations

import json
import subprocess
import sys

from service_server import Server

from graphopt_client import Model

CHECK = """
import sys
BLOCKED = {"onnx", "onnxruntime", "onnx_ir", "onnxscript", "fastapi", "networkx", "numpy",
           "starlette", "uvicorn", "sqlalchemy", "huey"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked for this test: {name}", name=name)
        return None
sys.meta_path.insert(0, Block())
base_url, model_id = sys.argv[1:3]

from graphopt_client import AsyncClient, Client

with Client(base_url) as client:
    view = client.models.graph(model_id)
    assert isinstance(view, dict) and view["nodes"], view  # JSON without networkx
    assert client.models.get(model_id).id == model_id
AsyncClient(base_url)
assert not [m for m in sys.modules if m.split(".")[0] == "graphopt"], "the SDK imported graphopt"

from graphopt.cli import main  # the remote CLI, in an install without the engine
sys.argv = ["graphopt", "models", "show", model_id, "--json", "--server", base_url]
try:
    main()
finally:
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
    assert not loaded, loaded
"""


def test_client_and_remote_cli_work_without_engine_or_server_packages(
    server: Server, uploaded: Model
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, server.base_url, uploaded.id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == uploaded.id
