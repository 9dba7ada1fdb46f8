"""The presets the package knows by name, as data (a leaf module: no model code).

BUNDLED_PRESETS  preset directories shipped in the package under PRESET_DIR
                 ("cpllm_tiny").
Assemblies       names built from other presets rather than read from a directory:
                 "cpllm_paper" (`cpllm_model.paper`, registered when the package is
                 imported), with a task builder and a preprocessor builder.

`cpllm_model.preset_io` resolves a name here before loading; anything else is a preset
directory (local or gs://).
"""
import os

PRESET_DIR = os.path.join(os.path.dirname(__file__), "assets", "presets")
BUNDLED_PRESETS = ("cpllm_tiny",)
PAPER_PRESET = "cpllm_paper"

_ASSEMBLIES = {}  # name -> (task builder, preprocessor builder)


def register_assembly(name, task_builder, preprocessor_builder):
    """`name` is built by `task_builder(load_weights=..., **kwargs)` and
    `preprocessor_builder(**kwargs)` instead of read from a directory."""
    _ASSEMBLIES[name] = (task_builder, preprocessor_builder)


def assembly(name):
    """(task builder, preprocessor builder) of an assembled preset name, else None."""
    return _ASSEMBLIES.get(name)


def resolve(preset):
    """The directory of a bundled preset name; any other preset unchanged."""
    if preset in BUNDLED_PRESETS:
        return os.path.join(PRESET_DIR, preset)
    return preset
