# Dataflow worker image for the cpllm pipelines (custom SDK container).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/cpllm/worker:0.1.0 .
#   docker build --build-arg JAX_EXTRA=cuda12 -t .../worker-gpu:0.1.0 .   # GPU workers
#
# Use with --sdk_container_image (see docs/PIPELINE.md). NOT BUILT OR RUN HERE: the
# development machine has no Docker engine and no registry access; the rules below are
# checked by tests/test_dockerfile.py, which parses this file.
#
# The base image's Python and Beam version must match the launcher's (Python 3.11,
# apache-beam 2.77.0, pinned in requirements.txt).
FROM apache/beam_python3.11_sdk:2.77.0

# Every cpllm package import picks the JAX backend; the smoke check below runs with it.
# On GPU workers several SDK processes share one GPU: JAX must not preallocate 75% of
# its memory in each of them (the second would run out); it grows on demand instead, up
# to 90% in all (the shared model, --share_model_across_processes, lives in one process).
ENV KERAS_BACKEND=jax \
    TF_CPP_MIN_LOG_LEVEL=2 \
    XLA_PYTHON_CLIENT_PREALLOCATE=false \
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.90

WORKDIR /opt/cpllm

# Runtime dependencies only: requirements.txt up to its "# test-only" line (pytest,
# emulators, linters stay out of the image). Dependencies first, so code changes do not
# invalidate this layer.
COPY requirements.txt setup.py ./
RUN sed '/^# test-only/,$d' requirements.txt > requirements-runtime.txt \
    && pip install --no-cache-dir -r requirements-runtime.txt

# ffmpeg: the static binary of the pinned imageio-ffmpeg wheel (imageio-ffmpeg==0.8.1 in
# requirements.txt), the same binary the tests ran; no distro ffmpeg, whose filters
# (scale, tone mapping) and text output differ across builds. beam_pipelines.media
# prefers an ffmpeg on PATH, so the build fails if the base image has one, and it fails
# unless the chosen binary is byte-identical to the tested one (sha256 below).
ARG FFMPEG_SHA256=0d709a0bed1a43f24cd2c420878c63afea4580671b6949ad19ed124572f3bc3d
RUN if command -v ffmpeg; then echo "an ffmpeg on PATH would win over the pinned one" >&2; exit 1; fi \
    && python -c "import hashlib, imageio_ffmpeg, sys; exe = imageio_ffmpeg.get_ffmpeg_exe(); digest = hashlib.sha256(open(exe, 'rb').read()).hexdigest(); print(exe, digest); sys.exit(digest != '${FFMPEG_SHA256}')"

# Optional accelerator build of the pinned JAX (e.g. JAX_EXTRA=cuda12).
ARG JAX_EXTRA=""
RUN if [ -n "$JAX_EXTRA" ]; then \
        pip install --no-cache-dir "jax[${JAX_EXTRA}]==$(pip show jax | sed -n 's/^Version: //p')"; \
    fi

# The three packages, with the bundled cpllm_tiny preset and tokenizer assets.
COPY cpllm_model ./cpllm_model
COPY beam_pipelines ./beam_pipelines
COPY trainer ./trainer
RUN pip install --no-cache-dir --no-deps . \
    && KERAS_BACKEND=jax python -c "import keras, beam_pipelines.score, cpllm_model; from beam_pipelines.media import ffmpeg_bin; import imageio_ffmpeg; assert keras.backend.backend() == 'jax', keras.backend.backend(); assert ffmpeg_bin.ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe(); print('cpllm worker ok')"

# The base image's ENTRYPOINT (/opt/apache/beam/boot) starts the SDK harness: keep it.
