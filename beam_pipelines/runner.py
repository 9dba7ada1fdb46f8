"""Runner choice that works offline.

Beam 2.77's DirectRunner first tries the Prism runner, whose Go binary is downloaded
from the internet on first use. `offline_runner` replaces "DirectRunner" (and no
--runner at all) with the Python FnApiRunner that DirectRunner itself falls back to:
same `--direct_running_mode` (in_memory, multi_threading, multi_processing) and
`--direct_num_workers` options, no download, no network. Other runners (DataflowRunner,
PrismRunner when asked for by name, ...) are passed through unchanged.
"""

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

_DIRECT_NAMES = {None, "", "direct", "directrunner", "fnapirunner"}


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
