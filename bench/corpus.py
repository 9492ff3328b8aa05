"""The public corpus the peer benchmark runs on, with realistic input shapes.

``python bench/corpus.py`` builds the corpus into ``GRAPHOPT_CORPUS`` (default
``/tmp/graphopt-bench/corpus``) and lists it; building is idempotent (what is cached stays):

- ``pypi/``: the ONNX models shipped in the PyPI wheels ``rapidocr_onnxruntime==1.4.4``
  (PP-OCRv4 det/rec, PP-OCR mobile cls) and ``silero-vad==6.2.3`` (its VAD variants),
  fetched with ``pip download --no-deps`` into ``wheels/`` and unpacked;
- onnx's ``light_*`` models (CNNs with small constant-generated weights, kept as graph
  inputs), shipped in the installed ``onnx`` wheel's backend test data, used in place;
- ``transformers/``: BERT-like, GPT-2-like and ViT-like models (``transformers`` configs with
  2 layers, hidden size 128, random weights, fixed seed) exported with torch's TorchScript
  exporter (``*-torchscript.onnx``, dynamic batch/sequence axes, opset 17) and with its
  dynamo exporter (``*-dynamo/*.onnx`` plus its external-data file, static shapes, opset 18).
  Needs ``pip install -e '.[bench]'``; skipped with a message when torch is missing.

:func:`corpus_models` returns what is on disk with the input shapes to pin and the input
values that random data cannot stand in for (silero-vad's sample rate).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

CORPUS_DIR = Path(os.environ.get("GRAPHOPT_CORPUS", "/tmp/graphopt-bench/corpus"))
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
WHEELS = ("rapidocr_onnxruntime==1.4.4", "silero-vad==6.2.3")
SEQUENCE = 64  # transformer sequence length
IMAGE = 64  # ViT image size

# dynamic sizes pinned to what the applications feed
PINS: dict[str, dict[str, list[int]]] = {
    "ch_PP-OCRv4_det_infer": {"x": [1, 3, 320, 320]},
    "ch_PP-OCRv4_rec_infer": {"x": [1, 3, 48, 320]},
    "ch_ppocr_mobile_v2.0_cls_infer": {"x": [1, 3, 48, 192]},
    "silero_vad": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_16k_op15": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_half": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_op18_ifless": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_openvino_16k": {"input": [1, 512], "state": [2, 1, 128]},
    "silero_vad_16k_sequence": {"input": [1, 576]},  # (frames, 576): one frame
}
# inputs whose values matter: silero-vad's sample rate must be 8000 or 16000
VALUES: dict[str, dict[str, np.ndarray]] = {
    "silero_vad": {"sr": np.array(16000, dtype=np.int64)},
    "silero_vad_half": {"sr": np.array(16000, dtype=np.int64)},
    "silero_vad_op18_ifless": {"sr": np.array(16000, dtype=np.int64)},
}
TRANSFORMER_PINS: dict[str, dict[str, list[int]]] = {
    "bert": {"input_ids": [1, SEQUENCE], "attention_mask": [1, SEQUENCE]},
    "gpt2": {"input_ids": [1, SEQUENCE]},
    "vit": {"pixel_values": [1, 3, IMAGE, IMAGE]},
}


@dataclass
class CorpusModel:
    """One corpus model: where it is and how to feed it."""

    name: str
    path: Path
    family: str  # pypi | light | transformer
    pins: dict[str, list[int]] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    # architecture for onnxruntime.transformers' optimizer (bert, gpt2, vit), else None
    architecture: str | None = None


def fetch_wheels(cache: Path = CORPUS_DIR) -> list[Path]:
    """Download the model-carrying wheels (no dependencies) and unpack their ``.onnx`` files."""
    wheels, out = cache / "wheels", cache / "pypi"
    wheels.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for requirement in WHEELS:
        stem = requirement.split("==")[0].replace("-", "_")
        if not any(wheels.glob(f"{stem}-*.whl")):
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
            subprocess.run([*pip, "-d", str(wheels), requirement], check=True)
    written = []
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.endswith(".onnx"):
                    target = out / Path(member).name
                    if not target.exists():
                        target.write_bytes(archive.read(member))
                    written.append(target)
    return written


def _transformer(kind: str) -> tuple[Any, tuple[Any, ...], tuple[list[str], list[str]]]:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config: Any
    model: Any
    args: tuple[Any, ...]
    common: dict[str, Any] = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
    if kind == "bert":
        config = tf.BertConfig(
            vocab_size=1000, intermediate_size=512, max_position_embeddings=128, **common
        )
        model = tf.BertModel(config)
        ids = torch.randint(0, 1000, (1, SEQUENCE))
        args = (ids, torch.ones(1, SEQUENCE, dtype=torch.int64))
        names = (["input_ids", "attention_mask"], ["last_hidden_state", "pooler_output"])
    elif kind == "gpt2":
        config = tf.GPT2Config(vocab_size=1000, n_positions=128, n_embd=128, n_layer=2, n_head=4)
        model = tf.GPT2LMHeadModel(config)
        model.config.use_cache = False
        args = (torch.randint(0, 1000, (1, SEQUENCE)),)
        names = (["input_ids"], ["logits"])
    else:
        config = tf.ViTConfig(
            image_size=IMAGE, patch_size=8, intermediate_size=512, num_channels=3, **common
        )
        model = tf.ViTModel(config, add_pooling_layer=False)
        args = (torch.randn(1, 3, IMAGE, IMAGE),)
        names = (["pixel_values"], ["last_hidden_state"])
    model.eval()

    class Wrapped(torch.nn.Module):  # plain tensors out, no cache, no dict
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(names[0], inputs, strict=True))
            if kind == "gpt2":  # an explicit mask keeps transformers' packed-sequence check
                kwargs["attention_mask"] = torch.ones_like(inputs[0])  # (aten::diff) out
            result = self.inner(**kwargs, return_dict=True)
            if kind == "gpt2":
                return result["logits"]
            if kind == "vit":
                return result["last_hidden_state"]
            return result["last_hidden_state"], result["pooler_output"]

    return Wrapped().eval(), args, names


def export_transformers(cache: Path = CORPUS_DIR) -> list[Path]:
    """Export each architecture with both exporters (see module docstring)."""
    try:
        import torch
    except ModuleNotFoundError:
        print("torch is not installed (pip install -e '.[bench]'): no transformer models")
        return []
    out = cache / "transformers"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in TRANSFORMER_PINS:
        script = out / f"{kind}-torchscript.onnx"
        if not script.exists():
            module, args, (inputs, outputs) = _transformer(kind)
            dynamic = {n: {0: "batch", 1: "sequence"} for n in inputs if kind != "vit"}
            dynamic.update({n: {0: "batch"} for n in (inputs if kind == "vit" else [])})
            with torch.no_grad():
                torch.onnx.export(
                    module,
                    args,
                    str(script),
                    input_names=inputs,
                    output_names=outputs,
                    dynamic_axes=dynamic,
                    opset_version=17,
                    dynamo=False,
                )
        written.append(script)
        folder = out / f"{kind}-dynamo"
        dynamo = folder / f"{kind}-dynamo.onnx"
        if not dynamo.exists():
            folder.mkdir(exist_ok=True)
            module, args, (inputs, outputs) = _transformer(kind)
            with torch.no_grad():
                program = torch.onnx.export(
                    module,
                    args,
                    input_names=inputs,
                    output_names=outputs,
                    opset_version=18,
                    dynamo=True,
                )
            assert program is not None
            program.save(str(dynamo), external_data=True)
        written.append(dynamo)
    return written


def build(cache: Path = CORPUS_DIR) -> None:
    """Fetch and export everything the corpus needs into ``cache``."""
    fetch_wheels(cache)
    export_transformers(cache)


def corpus_models(cache: Path = CORPUS_DIR) -> list[CorpusModel]:
    """Every corpus model found on disk (call :func:`build` first)."""
    models = []
    for path in sorted((cache / "pypi").glob("*.onnx")):
        name = path.stem
        models.append(CorpusModel(name, path, "pypi", PINS.get(name, {}), VALUES.get(name, {})))
    for path in sorted(LIGHT_DIR.glob("light_*.onnx")):
        models.append(CorpusModel(path.stem, path, "light"))
    for path in sorted((cache / "transformers").glob("**/*.onnx")):
        kind = path.stem.split("-")[0]
        architecture = "bert" if kind == "bert" else kind
        models.append(
            CorpusModel(
                path.stem, path, "transformer", TRANSFORMER_PINS.get(kind, {}), {}, architecture
            )
        )
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CORPUS_DIR)
    parser.add_argument("--list", action="store_true", help="only list what is on disk")
    args = parser.parse_args()
    if not args.list:
        build(args.cache)
    for model in corpus_models(args.cache):
        size = sum(f.stat().st_size for f in model.path.parent.glob(f"{model.path.name}*"))
        print(f"{model.family:12s} {model.name:36s} {size / 1e6:8.2f} MB  pins={model.pins}")


if __name__ == "__main__":
    main()
