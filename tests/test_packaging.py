"""setup.py declares the Python versions the code runs on and the tests run (issue 14,
item 6): the code uses datetime.UTC (3.11+), so >=3.10 was a lie."""
import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_kwargs():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "setup":
            return {k.arg: ast.literal_eval(k.value) for k in node.keywords
                    if isinstance(k.value, (ast.Constant, ast.List))}
    raise AssertionError("no setuptools.setup(...) call in setup.py")


def _minimum(requires):
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)", requires.strip())
    assert m, f"python_requires should be a plain lower bound, got {requires!r}"
    return int(m.group(1)), int(m.group(2))


def test_python_requires_covers_what_the_code_uses():
    kwargs = _setup_kwargs()
    minimum = _minimum(kwargs["python_requires"])
    uses_utc = any("datetime.UTC" in p.read_text()
                   for pkg in ("beam_pipelines", "cpllm_model", "trainer")
                   for p in (ROOT / pkg).rglob("*.py"))
    if uses_utc:
        assert minimum >= (3, 11), "datetime.UTC needs Python 3.11"
    assert sys.version_info[:2] >= minimum  # the tests run on a declared version


def test_classifiers_name_the_tested_version_and_nothing_older():
    kwargs = _setup_kwargs()
    minimum = _minimum(kwargs["python_requires"])
    versions = [tuple(map(int, c.rsplit("::", 1)[1].strip().split(".")))
                for c in kwargs.get("classifiers", [])
                if re.fullmatch(r"Programming Language :: Python :: \d+\.\d+", c)]
    assert sys.version_info[:2] in versions
    assert all(v >= minimum for v in versions)
