"""Multi-host (multi-process) training: start-up, who reads what, who writes.

    python -m trainer.train --config C --workdir W \
        --coordinator_address HOST0:12355 --num_processes 2 --process_id {0,1} \
        --override input.shard_groups=2

Each process is one JAX controller (`jax.distributed.initialize`; on CPU with gloo
collectives). `keras.distribution.DataParallel` then spans every device of every
process: the weights are replicated, each process feeds its own rows of the batch
(`jax.make_array_from_process_local_data`, what Keras's `distribute_data_input` does).

Data: the training split's TFRecord files are cut into `input.shard_groups` = G groups
(`input_pipeline.shard_files`); G must be a multiple of the process count H, and process
h reads only groups h*G/H .. (h+1)*G/H - 1 and builds only their blocks of each batch
(`input_pipeline.Block`). A one-process run with the same G builds the same global
batches, so the two give the same weights up to float reduction order (tested).

Writing: only process 0 writes (config, logs, checkpoints, held-out metrics, the
exported preset). The Keras variables of a multi-process run hold arrays spread over
devices no single process can read, so process 0 saves from a host copy of the state
(each process holds a full replica) loaded into a process-local model (`HostModel`),
with the distribution switched off meanwhile (`local_only`).
"""
from __future__ import annotations

import contextlib

import numpy as np


def initialize(coordinator_address: str | None, num_processes: int, process_id: int):
    """Starts JAX's distributed runtime when num_processes > 1 (before any JAX use)."""
    if num_processes <= 1:
        return
    if not coordinator_address:
        raise ValueError("--num_processes > 1 needs --coordinator_address HOST:PORT")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"--process_id {process_id} not in [0, {num_processes})")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def process_index() -> int:
    import jax

    return jax.process_index()


def process_count() -> int:
    import jax

    return jax.process_count()


def is_primary() -> bool:
    """True on the process that writes (process 0)."""
    return process_index() == 0


def local_groups(groups: int) -> list[int]:
    """The shard groups this process reads (see the module docstring)."""
    n, h = process_count(), process_index()
    if groups < 1 or groups % n:
        raise ValueError(f"input.shard_groups={groups} must be a positive multiple of "
                         f"the {n} processes")
    per = groups // n
    return list(range(h * per, (h + 1) * per))


def host_copy(values) -> list[np.ndarray]:
    """numpy copies of replicated arrays: this process's own replica of each."""
    out = []
    for x in values:
        if getattr(x, "is_fully_addressable", True):
            out.append(np.asarray(x))
        else:
            out.append(np.asarray(x.addressable_data(0)))
    return out


def global_sum(values: np.ndarray) -> np.ndarray:
    """The sum over processes of each process's `values` (same shape everywhere)."""
    if process_count() == 1:
        return np.asarray(values)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(values))).sum(axis=0)


def replicate(values) -> list:
    """Host arrays as arrays replicated over the devices of every process (every
    process passes the same values, e.g. a restored checkpoint)."""
    import jax
    import keras

    mesh = keras.distribution.distribution().device_mesh.backend_mesh
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    out = []
    for x in values:
        host = np.asarray(x)
        out.append(jax.make_array_from_callback(host.shape, sharding,
                                                lambda idx, host=host: host[idx]))
    return out


@contextlib.contextmanager
def local_only():
    """No Keras distribution inside: what process 0 builds, saves or scores alone stays
    on its own devices (under the run's DataParallel, a variable Keras creates while
    saving, e.g. the throw-away optimizer `saving_lib` makes, would be placed on every
    process's devices: a collective the other processes never join)."""
    import keras

    dist = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(dist)


class HostModel:
    """A process-local copy of the model (built on first use, without the run's
    distribution) that process 0 saves and evaluates from host copies of the state."""

    def __init__(self, build):
        self._build = build
        self.model = None

    def load(self, trainable, non_trainable):
        """The local model holding these host values (lists of numpy arrays, e.g.
        `host_copy` of the state; use it inside `local_only()`)."""
        if self.model is None:
            with local_only():
                self.model = self._build()
        bb = self.model.backbone
        pairs = (list(zip(bb.trainable_variables, trainable))
                 + list(zip(bb.non_trainable_variables, non_trainable)))
        for v, x in pairs:
            # A variable both models share (Keras's global seed generator state) lives
            # on every process's devices: assigning it from one process would be a
            # collective the others never join. It is RNG state, not a saved weight.
            if getattr(v.value, "is_fully_addressable", True):
                v.assign(x)
        return self.model
