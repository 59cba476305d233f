"""amssfx: change one source of a finished mix with a text query (AMSS-Net on ONNX Runtime).

The public API is loaded on first use, so `import amssfx` (and `amssfx --help`) stays light:

    from amssfx import Engine, solo
    engine = Engine()
    engine.process_file("song.wav", "out.wav", engine.params("mute vocals"))
"""
from __future__ import annotations

__version__ = "0.2.0"
__all__ = ["Engine", "RenderParams", "Report", "solo", "parse_query", "ASSETS", "Recipe", "render", "render_all",
           "load_recipe", "StemMix", "render_stem_file", "__version__"]

_LAZY = {"Engine": ("engine", "Engine"), "RenderParams": ("engine", "RenderParams"), "Report": ("engine", "Report"),
         "solo": ("engine", "solo"), "parse_query": ("query", "parse"), "ASSETS": ("model_runtime", "ASSETS"),
         "Recipe": ("recipe", "Recipe"), "render": ("recipe", "render"), "render_all": ("recipe", "render_all"),
         "load_recipe": ("recipe", "load"), "StemMix": ("mix", "StemMix"),
         "render_stem_file": ("recipe", "render_stem_file")}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
