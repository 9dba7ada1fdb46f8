# Dataflow worker image for the cpllm pipelines (custom SDK container).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/cpllm/worker:0.1.0 .
#   docker build --build-arg JAX_EXTRA=cuda12 -t .../worker-gpu:0.1.0 .   # GPU workers
#
# Use with --sdk_container_image (see docs/PIPELINE.md). NOT BUILT OR RUN HERE: the
# development machine has no Docker engine and no registry access.
#
# The base image's Python and Beam version must match the launcher's (Python 3.11,
# apache-beam 2.77.0, pinned in requirements.txt).
FROM apache/beam_python3.11_sdk:2.77.0

# A system ffmpeg (preferred by beam_pipelines.media over imageio-ffmpeg's bundled one).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/cpllm

# Dependencies first, so code changes do not invalidate this layer.
COPY requirements.txt setup.py ./
RUN pip install --no-cache-dir -r requirements.txt

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
    && python -c "import beam_pipelines.score, cpllm_model; print('cpllm worker ok')"

ENV KERAS_BACKEND=jax \
    TF_CPP_MIN_LOG_LEVEL=2

# The base image's ENTRYPOINT (/opt/apache/beam/boot) starts the SDK harness: keep it.
