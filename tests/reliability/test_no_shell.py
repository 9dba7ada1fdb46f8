"""Issue 7: no shell strings anywhere in our packages.

Two independent checks, each with a negative self-test so that it can be seen to fail:
ruff's bandit rules (S602 subprocess with shell=True, S604 any call with shell=True,
S605 os.system/os.popen and friends, S607 a process started by partial path) and an AST
walk that fails on `shell=<anything but a literal False>`, on `os.system`/`os.popen`, and
on a subprocess call whose command is a string.
"""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("beam_pipelines", "cpllm_model", "trainer", "bench")
RUFF_RULES = "S602,S604,S605,S607"
BAD = 'import os, subprocess\nsubprocess.run("ls", shell=True)\nos.system("ls")\n'
_SUBPROCESS_FUNCS = {"run", "call", "check_call", "check_output", "Popen", "getoutput",
                     "getstatusoutput"}


def ruff(*paths):
    exe = os.path.join(os.path.dirname(sys.executable), "ruff")
    return subprocess.run([exe, "check", "--no-cache", "--isolated", "--select", RUFF_RULES,
                           "--output-format", "concise", *paths],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def shell_calls(path):
    """[(line, what)] of shell-style process starts in one Python file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                          and kw.value.value is False):
                found.append((node.lineno, "shell=" + ast.unparse(kw.value)))
        if owner == "os" and (name in ("system", "popen") or name.startswith("spawn")):
            found.append((node.lineno, f"os.{name}"))
        if owner == "subprocess" and name in _SUBPROCESS_FUNCS and node.args and (
                isinstance(node.args[0], ast.JoinedStr) or (
                    isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))):
            found.append((node.lineno, f"subprocess.{name} with a string command"))
    return found


def python_files(*roots):
    for root in roots:
        for dirpath, _, files in os.walk(os.path.join(ROOT, root)):
            yield from (os.path.join(dirpath, f) for f in sorted(files) if f.endswith(".py"))


def test_ruff_finds_no_shell_in_our_packages():
    proc = ruff(*PACKAGES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ast_walk_finds_no_shell_in_our_packages():
    files = list(python_files(*PACKAGES))
    assert len(files) > 20
    found = {os.path.relpath(p, ROOT): hits for p in files if (hits := shell_calls(p))}
    assert found == {}


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad_module.py"
    path.write_text(BAD)
    return str(path)


def test_ruff_check_can_fail(bad_file):
    proc = ruff(bad_file)
    assert proc.returncode == 1
    for rule in ("S602", "S605", "S607"):
        assert rule in proc.stdout, proc.stdout


def test_ast_walk_can_fail(bad_file, tmp_path):
    assert [w for _, w in shell_calls(bad_file)] == [
        "shell=True", "subprocess.run with a string command", "os.system"]
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import subprocess\nUSE = 1\nsubprocess.Popen(f'ls {USE}', shell=USE)\n"
                      "subprocess.run(['ls'], shell=False)\n")
    assert [w for _, w in shell_calls(str(sneaky))] == [
        "shell=USE", "subprocess.Popen with a string command"]
