"""Which weights of a CPLLMBackbone train: the task's training modes.

    training_modes.configure(backbone, high_level="frozen", decoder="lora", lora_rank=8,
                             score_path="train")

high_level: "frozen" (SigLIP tower frozen, its projection trained; the paper's choice),
            "head" (also SigLIP's last block and post-norm), "all".
decoder:    "lora" (rank-`lora_rank` LoRA on the decoder's query/key/value only; every
            other decoder weight frozen), "full", or "frozen".
score_path: "train" (the default: VideoPrism's spatial path, both projections, the
            low-level LayerNorm, the statistics projection and the score MLP train) or
            "frozen" (all of them frozen: only the decoder trains, and the scores stay
            bit-identical, e.g. teaching a trained model's decoder the pairwise answer).
Never trainable: VideoPrism's temporal layers, SigLIP's MAP head (unused by CP-LLM) and
the backbone's `score_members` (other runs' score paths averaged into the score).
The LoRA rank lives on the backbone (`_lora_rank`, as keras-hub's `Backbone.enable_lora`
keeps it); LoRA cannot be removed once enabled (Keras), and enabling it again with
another rank raises.
"""


def configure(bb, high_level="frozen", decoder="lora", lora_rank=8, score_path="train"):
    """Sets `trainable` on the layers of backbone `bb`; returns bb."""
    if score_path not in ("train", "frozen"):
        raise ValueError(f"score_path must be train|frozen, got {score_path!r}")
    if high_level not in ("frozen", "head", "all"):
        raise ValueError(f"high_level must be frozen|head|all, got {high_level!r}")
    if decoder not in ("lora", "full", "frozen"):
        raise ValueError(f"decoder must be lora|full|frozen, got {decoder!r}")
    bb.trainable = True
    for layer in bb._flatten_layers(include_self=False):
        layer.trainable = True
    for member in bb.score_members:  # another run's score path: never trains here
        member.trainable = False
    siglip, prism = bb.high_level_encoder, bb.low_level_encoder
    if high_level != "all":
        siglip.trainable = False
        if high_level == "head":
            for layer in (siglip.encoder_layers[-1], siglip.post_layer_norm):
                layer.trainable = True
    siglip.head.trainable = False
    for name in ("temporal_embedding", "temporal_encoder", "factorized_decoding"):
        getattr(prism, name).trainable = False
    if score_path == "frozen":
        for layer in bb.scoring_layers(include_members=False):
            if layer is not siglip:
                layer.trainable = False
        if high_level != "frozen":
            raise ValueError("score_path='frozen' keeps the whole score path fixed: "
                             "high_level must be 'frozen' too")
    if decoder != "full":
        for layer in bb.decoder_layers():
            layer.trainable = False
    if decoder == "lora":
        if lora_rank is None:
            raise ValueError("decoder='lora' needs lora_rank")
        enabled = getattr(bb, "_lora_rank", None)
        if enabled not in (None, lora_rank):
            raise ValueError(f"LoRA already enabled with rank {enabled}")
        for block in bb.transformer_layers:
            block.trainable = True
            for layer in block._flatten_layers(include_self=False):
                layer.trainable = False
            for dense in (block.attention.query_dense, block.attention.key_dense,
                          block.attention.value_dense):
                dense.trainable = True
                if enabled is None:
                    dense.enable_lora(lora_rank)
                else:
                    dense.kernel.trainable = False
        bb._lora_rank = lora_rank  # keras-hub Backbone.enable_lora's attribute
    return bb
