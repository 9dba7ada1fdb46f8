"""Runner choice that works offline.

Beam 2.77's DirectRunner first tries the Prism runner, whose Go binary is downloaded
from the internet on first use. `offline_runner` replaces "DirectRunner" (and no
--runner at all) with the Python FnApiRunner that DirectRunner itself falls back to:
same `--direct_running_mode` (in_memory, multi_threading, multi_processing) and
`--direct_num_workers` options, no download, no network. Other runners (DataflowRunner,
PrismRunner when asked for by name, ...) are passed through unchanged.

`check_paths` refuses, before a job is built, local paths that a runner whose workers
are other machines (Dataflow, Flink, Spark, ...) cannot read or write.
"""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

_DIRECT_NAMES = {None, "", "direct", "directrunner", "fnapirunner"}
# Runners whose workers run on the launching machine: local paths work with them.
_ON_THIS_MACHINE = _DIRECT_NAMES | {
    "prism",
    "prismrunner",
    "switchingdirectrunner",
    "bundlebaseddirectrunner",
    "testdirectrunner",
}


class ConfigError(ValueError):
    """Flags that cannot work together (reported before the pipeline starts)."""


def is_local(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    return runner is None or str(runner).lower() in _DIRECT_NAMES


def offline_runner(options: PipelineOptions):
    """A runner object or name for `beam.Pipeline(runner=..., options=options)`."""
    if not is_local(options):
        return options.view_as(StandardOptions).runner
    # Imported lazily: the portability stack is heavy and unused on Dataflow launchers.
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    # What DirectRunner passes, so multi_processing workers see the pipeline options.
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return fn_runner.FnApiRunner(provision_info=provision)


def _runner_name(options: PipelineOptions) -> str | None:
    runner = options.view_as(StandardOptions).runner
    if runner is None or isinstance(runner, str):
        # "DataflowRunner" or a dotted class path "apache_beam.runners....DataflowRunner".
        return None if runner is None else str(runner).rsplit(".", 1)[-1]
    return type(runner).__name__


def runs_on_this_machine(options: PipelineOptions) -> bool:
    """True for DirectRunner, FnApiRunner, PrismRunner (and no --runner): local paths work."""
    name = _runner_name(options)
    return name is None or name.lower() in _ON_THIS_MACHINE


def is_local_path(path) -> bool:
    """A path without a scheme (or file://): only the launching machine can see it."""
    path = str(path or "")
    return bool(path) and ("://" not in path or path.lower().startswith("file://"))


def check_paths(options: PipelineOptions, paths: dict) -> None:
    """Raises ConfigError for local paths when the runner's workers are other machines.

    `paths`: {flag name: value} of this pipeline's own paths (None values are skipped);
    Beam's `--temp_location` and `--staging_location` are checked as well. A no-op on
    runners that run here (see `runs_on_this_machine`).
    """
    if runs_on_this_machine(options):
        return
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    gcp = options.view_as(GoogleCloudOptions)
    checked = dict(paths, temp_location=gcp.temp_location, staging_location=gcp.staging_location)
    local = [f"--{flag} {value}" for flag, value in checked.items() if is_local_path(value)]
    if local:
        raise ConfigError(
            f"--runner {_runner_name(options)} runs on other machines, which cannot see "
            f"local paths: {', '.join(local)}. Use gs:// (or another shared file system) "
            "paths, or a local runner (DirectRunner)."
        )
