"""The tiny recipe (generated ladders, 2-core CPU, ~50 min): every tiny config builds on it.

    python -m trainer.train --config trainer/configs/cpllm_tiny.py --workdir DIR \
        [--override data.dir=out/tiny_data]  # from beam_pipelines.make_tiny_dataset

Every hyper-parameter lives here. Values the paper lost are marked "paper: lost". This
file alone (a pooled score head) trained the bundled `cpllm_tiny`'s stage 1 until
2026-12-04; since then stage 1 is `cpllm_tiny_patch.py` (this recipe with per-patch
scores ranked patch against patch) and stage 2 `cpllm_tiny_compare.py`
(docs/TRAINING.md "The bundled model").
"""
from beam_pipelines import ladder_defaults
from trainer.config_lib import ConfigDict


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.seed = 0

    # Model. The architecture (and tokenizer) come from the preset; `reinitialize` draws
    # fresh weights from `seed`, so training never starts from a previously trained
    # cpllm_tiny (the preset directory is what this run overwrites when exported).
    c.model = ConfigDict(
        preset="cpllm_tiny",
        reinitialize=True,
        init_score_bias_to_label_mean=True,  # fresh head starts at the mean train label
        # Shapes, checked at start against the preset (K, S, L, P) and the records'
        # manifest (K, S, M, P): K=8 key frames, S=64 (high-level resize), P=32
        # patches cut at native resolution (frames above 3840 on the longer side
        # downscaled to it).
        num_keyframes=8,
        image_size=64,
        low_level_max_side=3840,
        patch_size=32,
        max_patches=16,        # M of the training records (make_tiny_dataset)
        # M the exported preset scores with: a frame's score is a mean over its patches,
        # so more patches only lower its variance (docs/TRAINING.md "More patches, fewer
        # views"). A frame with fewer grid cells than M fills the spare slots with its
        # cells in other orientations (CPLLMPreprocessor.patch_fill).
        score_max_patches=256,
        score_patch_fill=True,
        # Views per patch (CPLLMBackbone.low_level_views): training reads each patch once
        # (the input pipeline rotates and mirrors at random instead); the exported preset
        # also reads each patch turned a quarter, which again only lowers the variance of
        # the patch mean. 256 patches x 2 views cost what 64 x 8 did and order held-out
        # ladders better: new pixels beat new orientations of the same pixels.
        low_level_views=1,
        score_low_level_views=2,
        max_sequence_length=88,  # <bos> + prompt (42) + description (<= 37) + <eos>
        # Backbone options changed from the preset's saved config (needs reinitialize):
        # VideoPrism reads the contrast-normalised luma detail layer
        # (CPLLMBackbone.normalized_detail_layer), not raw pixels (docs/TRAINING.md).
        backbone_overrides=ConfigDict(low_level_detail_gain=8.0,
                                      low_level_contrast_norm=True),
        # Keras dtype policy: "float32" (the bundled model's runs) or "mixed_bfloat16"
        # (bf16 compute, float32 master weights; docs/TRAINING.md "Mixed precision").
        dtype_policy="float32",
    )

    # What trains. The tiny model has no pretrained base to protect, so the decoder
    # trains fully (LoRA on a random decoder would only restrict it). The high-level
    # SigLIP tower stays frozen as in the paper, for a different reason: with 32
    # training sources, a trainable whole-frame encoder learned to recognise each
    # source's picture (training loss fell, held-out SRCC fell to 0.06 at step 1200 in
    # the run that trained it, docs/TRAINING.md); frozen random features plus the
    # trained projection leave compression to the low-level path, which trains fully.
    # score_path "frozen" would train the decoder alone (scores unchanged, bit for bit).
    c.train_modes = ConfigDict(high_level="frozen", decoder="full", lora_rank=0,
                               score_path="train")

    # Data (TFRecords from `python -m beam_pipelines.make_tiny_dataset`): 240 generated
    # training sources at 9 frame sizes (240p..1080p, portrait, square), 60 held-out
    # sources of families, a motion and a frame size never seen in training.
    c.data = ConfigDict(
        dir="out/tiny_data",   # holds manifest.json, train/, holdout/
        # More builds whose train splits join data.dir's (same record spec), e.g. the
        # sources `make_tiny_dataset --train_from` adds (docs/TRAINING.md).
        extra_train_dirs=(),
        train_split="train",
        eval_split="holdout",
        # Training ladders: 6 rungs spanning CRF 15..51 (shifted per source); held-out
        # ladders: coarse 19..49 step 5 and fine 24..36 step 2 (paper: range lost).
        # The trainer reads CRFs from the records; these document the data build.
        crf_range=(15, 51),
        # The split is read into host memory (under 1 GB); True indexes the records and reads
        # each batch's videos from storage instead (trainer.record_stream: same batches,
        # bit for bit), with `read_parallelism` batches read at once.
        streaming=False,
        read_parallelism=2,
    )

    # Input mix (paper ablation: single / pair / mix; mix is best overall).
    c.input = ConfigDict(
        mode="mix",            # "single" | "pair" | "mix"
        # Share of batch videos that come as same-source pairs (mix). Pairs carry the
        # compression signal no content memory can fake (same picture, other CRF); the
        # rest are single videos of other sources (more content per step for the
        # regression across content).
        pair_fraction=0.75,
        batch_size=16,         # videos per step (pairs count 2)
        rank_by="crf",         # pair order from the CRF (lower CRF better) or "label"
        augment=True,          # random rotation/mirror per video (input_pipeline.augment)
        # Multi-host: the train records cut into this many groups of files, each batch
        # built of one block per group; a multiple of the process count (each process
        # reads only its groups). 1 = one block (trainer.multihost).
        shard_groups=1,
        # Both videos of a pair take the same rotation/mirror (patch ranking needs
        # their patches over the same pixels).
        align_pairs=False,
    )

    # Losses. Scores (100 * sigmoid, bounded by construction) and labels are divided by
    # `label_scale` before the ranking and regression terms, so 1.0 of loss = a 10-point
    # error on the 0-100 scale. The paper weighs the three equally (weights lost). With
    # hundreds of distinct sources the VMAF regression is the teacher across content
    # (pooled SRCC); the ranking term (3x, CRF order within a source) keeps each ladder
    # ordered, with a small margin (1 VMAF point) so that it does not fight the
    # regression on nearly flat rungs. Recipe 4 (32 sources) needed ranking 10x because
    # regression there fitted each training picture's level (docs/TRAINING.md).
    c.loss = ConfigDict(
        ranking_weight=3.0,
        regression_weight=1.0,
        text_weight=1.0,
        ranking_margin=0.1,
        label_scale=10.0,
        # "originals" (paper) or "all": generated data has a VMAF pseudo-MOS on every
        # rendition, the teacher that makes the model learn quality ACROSS content.
        regression_targets="all",
        # The decoder dominates a tiny model's step (~336 tokens vs. 16 per vision
        # frame): the text loss is taken on the last 4 videos of each batch only, an
        # unbiased sample of the same loss at a quarter of the cost (None = every video).
        text_videos=4,
        # The pairwise answer (`CPLLM.compare`): the first `compare_pairs` pairs of a
        # batch also train "Score A: 71. Score B: 45. Video A is better." (scores from
        # the labels) with both videos in the prefix; `compare_keyframes` key frames
        # per video (None = all K). 0 = off.
        compare_weight=0.0,
        compare_pairs=0,
        compare_keyframes=None,
        # Weight of the verdict letter ("Video A" / "Video B") against 1 for every other
        # answer token: a decoder can lower the answer's mean loss a long way while
        # still guessing that one token (docs/TRAINING.md "A primary of the new recipe").
        compare_verdict_weight=1.0,
        # Patch against patch (needs model.backbone_overrides.patch_scores): the ranking
        # hinge on the score head's logits of the same patch in a pair's two videos.
        patch_ranking_weight=0.0,
        patch_ranking_margin=0.0,
    )

    # Optimisation (paper: Adam; epochs, batch, lr lost).
    c.optimizer = ConfigDict(learning_rate=2e-3, warmup_steps=50, clipnorm=1.0)
    c.num_steps = 3000  # ~50 min on the 2-core CPU (docs/TRAINING.md)
    c.log_every = 25
    c.checkpoint_every = 500
    c.eval_every = 1000
    c.eval_batch_size = 16
    # Held-out evaluation per ladder spacing (the held-out sources carry both).
    c.eval_ladders = ConfigDict(coarse=list(ladder_defaults.COARSE),
                                fine=list(ladder_defaults.FINE))
    return c
