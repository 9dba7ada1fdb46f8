"""The project's CRF ladders, defined once (H.264 CRF; lower is better quality).

LADDER_CRFS     `beam_pipelines.ladder --crfs` default: 18..43 step 5 (the paper's range
                was lost in conversion).
TRAIN_RUNGS     the bundled model's training ladders: 6 rungs spanning 15..51, shifted
                per source (`beam_pipelines.sources`).
COARSE, FINE    the held-out evaluation ladders: 19..49 step 5 and 24..36 step 2
                (`make_tiny_dataset`, `trainer.eval_families`, `trainer.eval_preset`,
                the cpllm_tiny config's `eval_ladders`).
HOLDOUT_RUNGS   every rung a held-out source is encoded at (COARSE and FINE together).
DEMO_CRFS       `make demo`'s ladders (`beam_pipelines.demo --crfs`): the coarse ladder.
"""
LADDER_CRFS = (18, 23, 28, 33, 38, 43)
TRAIN_RUNGS = (15, 21, 27, 33, 39, 45)
COARSE = tuple(range(19, 50, 5))  # 19 24 ... 49
FINE = tuple(range(24, 37, 2))    # 24 26 ... 36
HOLDOUT_RUNGS = tuple(sorted(set(COARSE) | set(FINE)))
DEMO_CRFS = COARSE


def as_range(crfs) -> str:
    """"first:last:step" of an evenly spaced ladder (the form `eval_preset --ladders`
    takes)."""
    step = crfs[1] - crfs[0]
    if any(b - a != step for a, b in zip(crfs, crfs[1:])):
        raise ValueError(f"not evenly spaced: {crfs}")
    return f"{crfs[0]}:{crfs[-1]}:{step}"
