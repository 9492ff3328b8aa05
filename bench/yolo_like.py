"""A YOLOv8-style detector with random weights, exported to ONNX for the memory benchmark.

:func:`build` makes the network: a C2f backbone (Conv-BN-SiLU, residual bottlenecks,
Split/Concat), SPPF, a PAN/FPN neck (Upsample + Concat top-down, strided Conv + Concat
bottom-up) and decoupled box/class heads at strides 8/16/32, concatenated into one
``(1, 4 * 16 + classes, anchors)`` output (raw DFL logits, no decoding). ``SCALES`` are
YOLOv8's depth/width/max-channel multipliers. The forward passes are written the way
Ultralytics writes them: nothing is ordered to favour or hurt a scheduler.
:func:`export` writes it with the TorchScript exporter (opset 17, eval mode, static shape).
Needs torch (``pip install torch``), which graphopt itself does not depend on.

    .venv/bin/python bench/yolo_like.py n /tmp/yolo_n.onnx
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

# scale -> (depth, width, max channels), as in yolov8.yaml
SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.33, 0.25, 1024),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
}


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs, plus the input when ``shortcut``."""

    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block: 1x1 Conv, split in two, ``n`` Bottlenecks on the second half, concat all, 1x1 Conv."""

    def __init__(self, cin: int, cout: int, n: int, shortcut: bool) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = Conv(cin, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, cout)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 MaxPools, concatenated."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.cv1 = Conv(cin, cin // 2)
        self.cv2 = Conv(cin // 2 * 4, cout)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    """Decoupled heads per level (box: 4 * reg_max logits, class: ``classes`` logits), flattened and joined."""

    def __init__(self, chs: tuple[int, ...], classes: int = 80, reg_max: int = 16) -> None:
        super().__init__()
        c2 = max(16, chs[0] // 4, reg_max * 4)
        c3 = max(chs[0], min(classes, 100))
        self.no = 4 * reg_max + classes
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
            for c in chs
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, classes, 1)) for c in chs
        )

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = [
            torch.cat((box(x), cls(x)), 1)
            for x, box, cls in zip(xs, self.cv2, self.cv3, strict=True)
        ]
        return torch.cat([o.view(o.shape[0], self.no, -1) for o in out], 2)


class YoloLike(nn.Module):
    """YOLOv8 (backbone, SPPF, PAN neck, 3-level Detect) at a depth/width multiplier."""

    def __init__(self, depth: float, width: float, max_channels: int, classes: int = 80) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return math.ceil(min(c, max_channels) * width / 8) * 8

        def n(k: int) -> int:
            return max(round(k * depth), 1)

        c1, c2, c3, c4, c5 = ch(64), ch(128), ch(256), ch(512), ch(1024)
        self.stem = Conv(3, c1, 3, 2)  # P1/2
        self.stage2 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, n(3), True))  # P2/4
        self.stage3 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, n(6), True))  # P3/8
        self.stage4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, n(6), True))  # P4/16
        self.stage5 = nn.Sequential(Conv(c4, c5, 3, 2), C2f(c5, c5, n(3), True), SPPF(c5, c5))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = C2f(c5 + c4, c4, n(3), False)
        self.td3 = C2f(c4 + c3, c3, n(3), False)
        self.down3 = Conv(c3, c3, 3, 2)
        self.bu4 = C2f(c3 + c4, c4, n(3), False)
        self.down4 = Conv(c4, c4, 3, 2)
        self.bu5 = C2f(c4 + c5, c5, n(3), False)
        self.detect = Detect((c3, c4, c5), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.td4(torch.cat([self.up(p5), p4], 1))
        n3 = self.td3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bu4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.bu5(torch.cat([self.down4(n4), p5], 1))
        return self.detect([n3, n4, n5])


def build(scale: str = "n", seed: int = 0) -> YoloLike:
    """A ``YoloLike`` at YOLOv8 ``scale`` with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    return YoloLike(*SCALES[scale]).eval()


def export(path: Path, scale: str = "n", size: int = 640) -> Path:
    """Write ``build(scale)`` to ``path`` as ONNX (TorchScript exporter, opset 17, 1x3xSIZExSIZE)."""
    model = build(scale)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False is deliberate
        torch.onnx.export(
            model,
            (torch.randn(1, 3, size, size),),
            str(path),
            input_names=["images"],
            output_names=["output0"],
            opset_version=17,
            dynamo=False,
        )
    return path


if __name__ == "__main__":
    export(Path(sys.argv[2]), sys.argv[1])
