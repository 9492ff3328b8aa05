"""Every fusion pass is registered with its contract and runs in ``default``, not ``lossless``."""

from __future__ import annotations

from graphopt.engine.passes import PassFamily, preset, registered_passes
from graphopt.engine.passes.presets import FUSION_PASSES


def test_fusion_passes_are_registered_lossless_and_documented() -> None:
    fusion = {cls.name: cls for cls in registered_passes() if cls.family == PassFamily.FUSION}
    assert set(FUSION_PASSES) == set(fusion)
    for cls in fusion.values():
        assert cls.lossless
        assert "Lossless" in (cls.__doc__ or "") and cls.summary()


def test_presets_run_fusion_after_cleanup() -> None:
    assert not set(FUSION_PASSES) & set(preset("lossless").pass_names())
    for name in ("default", "aggressive"):
        names = preset(name).pass_names()
        assert set(FUSION_PASSES) <= set(names)
        assert names.index("constant_folding") < names.index(FUSION_PASSES[0])
