"""Installs cpllm's three packages (also used by Dataflow workers via --setup_file)."""
import setuptools

REQUIRED = [
    "apache-beam[gcp]==2.77.0",
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "keras==3.15.1",
    "keras-hub==0.32.0",
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "numpy==2.4.6",
    "ffmpeg-python==0.2.0",
    "imageio-ffmpeg==0.8.1",
    "google-cloud-storage==3.17.1",
    "google-cloud-bigquery==3.47.0",
    "pyarrow==25.0.1",
    "scipy==1.17.1",
    "absl-py==2.5.1",
    "sentencepiece==0.2.3",
    "scikit-image==0.26.0",
    "matplotlib==3.11.2",
    "pillow==12.3.0",
    "openpyxl==3.1.5",
]

setuptools.setup(
    name="cpllm",
    version="0.1.0",
    description="CP-LLM video quality scoring at scale: Keras model, Beam pipelines, trainer.",
    packages=setuptools.find_packages(include=["cpllm_model*", "beam_pipelines*", "trainer*"]),
    package_data={"cpllm_model": ["assets/**/*", "assets/*"]},
    include_package_data=True,
    install_requires=REQUIRED,
    # datetime.UTC needs 3.11; 3.11 is what the tests and the worker image
    # (apache/beam_python3.11_sdk) run.
    python_requires=">=3.11",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
    ],
)
