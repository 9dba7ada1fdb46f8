"""The packages' layers: the pipelines and the trainer import the model, the trainer may
import the pipelines' pure modules (ladder defaults, ladder pairs, record format), and
nothing imports upwards: cpllm_model imports neither, beam_pipelines never the trainer."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {"cpllm_model": {"beam_pipelines", "trainer"}, "beam_pipelines": {"trainer"}}


def _imported_packages(path):
    for node in ast.walk(ast.parse(path.read_text())):
        yield from _imported_packages_of(node)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package):
    bad = sorted({f"{p.relative_to(ROOT)} imports {name}"
                  for p in (ROOT / package).rglob("*.py")
                  for name in _imported_packages(p) if name in FORBIDDEN[package]})
    assert not bad, bad


def test_model_package_has_no_function_level_import_of_itself():
    """No import circle inside cpllm_model is kept alive by imports inside functions."""
    bad = []
    for path in (ROOT / "cpllm_model").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if "cpllm_model" in set(_imported_packages_of(inner)):
                        bad.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not bad, bad


def _imported_packages_of(node):
    if isinstance(node, ast.Import):
        yield from (a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module.split(".")[0]
