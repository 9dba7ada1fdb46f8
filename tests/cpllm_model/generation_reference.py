"""Greedy generation without a KV cache: the reference the task's cached generation must
equal (tests/cpllm_model/test_model_generation.py) and the baseline of its speed-up
(bench/bench_model.py). Test and benchmark code only, not part of the package."""
import numpy as np


def greedy_uncached(model, inputs, max_new_tokens=64):
    """Greedy generation without a KV cache: re-runs the decoder on the whole prefix for
    every new token (the encoders run once). The reference the cached path must equal."""
    from keras import ops

    from cpllm_model.cpllm import _stateless_jit, _unique_variables

    bb = model.backbone

    def decode_step(x):
        hidden = bb.decode(x["vision"], x["token_ids"], x["padding_mask"],
                           x["response_mask"])
        return bb.logits(hidden[:, ops.shape(x["vision"])[1]:, :])

    decode_fn = _stateless_jit(decode_step, _unique_variables(bb.decoder_layers()))
    vision = model._vision_prefix(
        {k: ops.convert_to_tensor(v) for k, v in inputs.items()
         if k not in ("token_ids", "padding_mask")}
    )
    token_ids = np.array(inputs["token_ids"], "int32")
    prompt_len = int(np.asarray(inputs["padding_mask"]).sum(axis=1).min())
    length = token_ids.shape[1]
    for pos in range(prompt_len, min(length, prompt_len + max_new_tokens)):
        positions = np.arange(length)[None]
        padding = (positions < pos).astype("int32").repeat(len(token_ids), 0)
        response = ((positions >= prompt_len) & (positions < pos)).astype("int32")
        logits = decode_fn({
            "vision": vision,
            "token_ids": ops.convert_to_tensor(token_ids),
            "padding_mask": ops.convert_to_tensor(padding),
            "response_mask": ops.convert_to_tensor(response.repeat(len(token_ids), 0)),
        })
        token_ids[:, pos] = np.argmax(ops.convert_to_numpy(logits)[:, pos - 1], -1)
    return token_ids

