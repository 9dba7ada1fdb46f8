"""The worker Dockerfile, checked by parsing it (no Docker engine here; issue 14 item 19).

Rules: the same static ffmpeg the tests ran (imageio-ffmpeg's pinned binary, by sha256;
no distro ffmpeg), no test-only packages in the image, the smoke import runs with
KERAS_BACKEND=jax, base image matching the pinned Python and Beam.
"""
import hashlib
import pathlib
import re
import shlex
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _instructions():
    """(INSTRUCTION, argument text) with continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            current = ""
    return out


def _runs():
    return [arg for word, arg in _instructions() if word == "RUN"]


def _requirements():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    cut = lines.index("# test-only")
    def pins(ls):
        return [ln.strip() for ln in ls if ln.strip() and not ln.startswith("#")]

    return pins(lines[:cut]), pins(lines[cut:])


def _setup_required():
    text = (ROOT / "setup.py").read_text()
    block = re.search(r"REQUIRED = \[(.*?)\n\]", text, re.DOTALL).group(1)
    return re.findall(r'"([^"]+)"', block)


def test_no_distro_ffmpeg_and_no_ffmpeg_on_path():
    for run in _runs():
        if "apt-get" in run or "apk " in run or "yum " in run:
            assert "ffmpeg" not in run, run  # before: apt-get install ffmpeg
    assert any("command -v ffmpeg" in run and "exit 1" in run for run in _runs())


def test_the_image_pins_the_ffmpeg_binary_the_tests_run():
    import imageio_ffmpeg

    from beam_pipelines.media import ffmpeg_bin

    args = dict(re.match(r"(\w+)=(\S*)", arg).groups()
                for word, arg in _instructions() if word == "ARG" and "=" in arg)
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    with open(exe, "rb") as f:
        assert args["FFMPEG_SHA256"] == hashlib.sha256(f.read()).hexdigest()
    assert any("${FFMPEG_SHA256}" in run and "get_ffmpeg_exe" in run for run in _runs())
    # ...and that binary is the one these tests decode with (no system ffmpeg here).
    if shutil.which("ffmpeg") is None:
        assert ffmpeg_bin.ffmpeg_exe() == exe
    version = subprocess.run([exe, "-version"], capture_output=True, text=True,
                             timeout=30, check=True)
    assert version.stdout.startswith("ffmpeg version")
    assert "imageio-ffmpeg==" in " ".join(_requirements()[0])


def test_no_test_only_packages_in_the_image():
    runtime, test_only = _requirements()
    assert test_only and sorted(runtime) == sorted(_setup_required())
    installs = [run for run in _runs() if "pip install" in run]
    for run in installs:
        assert "-r requirements.txt" not in run  # before: the test-only packages too
        for token in shlex.split(run.replace("&&", " ; ")):
            name = re.split(r"[=<>\[]", token)[0].lower()
            assert name not in {re.split(r"[=<>\[]", t)[0].lower() for t in test_only}, run
    # The runtime list is requirements.txt cut at "# test-only", exactly as the RUN does.
    sed = next(run for run in installs if "requirements-runtime.txt" in run)
    assert "sed '/^# test-only/,$d' requirements.txt > requirements-runtime.txt" in sed
    assert "-r requirements-runtime.txt" in sed


def test_smoke_import_runs_with_the_jax_backend():
    instructions = _instructions()
    smoke = next(i for i, (w, a) in enumerate(instructions)
                 if w == "RUN" and "import" in a and "beam_pipelines.score" in a)
    env_before = " ".join(a for w, a in instructions[:smoke] if w == "ENV")
    assert "KERAS_BACKEND=jax" in env_before  # before: ENV came after the smoke RUN
    assert "KERAS_BACKEND=jax python -c" in instructions[smoke][1]
    assert "keras.backend.backend() == 'jax'" in instructions[smoke][1]


def test_base_image_matches_the_pinned_python_and_beam():
    (base,) = [a for w, a in _instructions() if w == "FROM"]
    beam = next(p for p in _requirements()[0] if p.startswith("apache-beam"))
    assert base == f"apache/beam_python3.11_sdk:{beam.split('==')[1]}"
    assert 'python_requires=">=3.11"' in (ROOT / "setup.py").read_text()


def test_jax_does_not_preallocate_the_gpu_in_every_sdk_process():
    """Several SDK processes per GPU worker: JAX's default (preallocate 75% of the GPU in
    each process) would make the second one run out of memory."""
    env = dict(shlex.split(pair)[0].split("=", 1)
               for w, a in _instructions() if w == "ENV" for pair in a.split())
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert 0.5 <= float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) <= 0.95
