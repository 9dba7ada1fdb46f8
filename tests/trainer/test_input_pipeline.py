"""Splits read back from real TFRecords; pair/single batches of the right make-up."""
import numpy as np
import pytest

from trainer import input_pipeline


@pytest.fixture(scope="module")
def train_split(tiny_data, tiny_model):
    split = input_pipeline.load_split(tiny_data, "train")
    return input_pipeline.attach_text(
        split, lambda d: tiny_model.preprocessor.tokenize_description(d, 96))


def test_load_split_shapes_and_labels(train_split):
    s = train_split
    assert len(s) == 6
    from cpllm_model import presets

    t = presets.TINY
    k, size, m, p = t["num_keyframes"], t["image_size"], t["max_patches"], t["patch_size"]
    assert s.frames["high_frames"].shape == (6, k, size, size, 3)
    assert s.frames["high_frames"].dtype == np.uint8
    assert s.frames["low_patches"].shape == (6, k, m, p, p, 3)
    # 160x120 cut at native size into 32-px cells: 3 x 5 = 15 real cells of M = 16
    assert s.frames["patch_mask"].shape == (6, k, m)
    np.testing.assert_array_equal(s.frames["patch_mask"].sum(-1), 15.0)
    assert sorted(set(s.source_id)) == ["mandelbrot", "testsrc2"]
    np.testing.assert_allclose(s.label, 95.0 - s.crf)
    assert s.text["token_ids"].shape == (6, 96)
    # the answer (response) is inside the real tokens and not at the prompt's start
    assert not (s.text["response_mask"] & ~s.text["padding_mask"]).any()
    assert s.text["response_mask"].sum(1).min() > 5
    assert not s.text["response_mask"][:, :5].any()


def test_concat_joins_splits_in_video_id_order(tiny_data):
    whole = input_pipeline.load_split(tiny_data, "train")
    sources = sorted(set(whole.source_id))

    def part(source):
        keep = np.flatnonzero(whole.source_id == source)[::-1]  # reversed: concat sorts
        return input_pipeline.Split(
            frames={k: v[keep] for k, v in whole.frames.items()},
            description=[whole.description[i] for i in keep],
            **{k: getattr(whole, k)[keep] for k in (
                "description_token_ids", "description_lengths", "label", "vmaf",
                "is_original", "crf", "source_id", "video_id")})

    joined = input_pipeline.concat([part(sources[1]), part(sources[0])])
    for k in ("video_id", "source_id", "crf", "label", "description_token_ids"):
        np.testing.assert_array_equal(getattr(joined, k), getattr(whole, k))
    for k in whole.frames:
        np.testing.assert_array_equal(joined.frames[k], whole.frames[k])
    assert joined.description == whole.description
    with pytest.raises(ValueError, match="more than one split"):
        input_pipeline.concat([part(sources[0]), part(sources[0])])


def test_pairs_are_same_source_different_crf_with_the_right_order(train_split):
    sched = input_pipeline.BatchSchedule(train_split, batch_size=8, mode="pair", seed=3)
    assert sched.num_pairs == 4
    for step in range(20):
        idx, order = sched(step)
        a, b = idx[0::2], idx[1::2]
        assert (train_split.source_id[a] == train_split.source_id[b]).all()
        assert (train_split.crf[a] != train_split.crf[b]).all()
        # +1 when the first video has the lower CRF (better)
        np.testing.assert_array_equal(order, np.sign(train_split.crf[b] - train_split.crf[a]))


def test_rank_by_label_orders_by_label(train_split):
    sched = input_pipeline.BatchSchedule(train_split, batch_size=4, mode="pair",
                                         rank_by="label", seed=1)
    idx, order = sched(0)
    np.testing.assert_array_equal(
        order, np.sign(train_split.label[idx[0::2]] - train_split.label[idx[1::2]]))


@pytest.mark.parametrize("mode,fraction,pairs", [("single", 0.5, 0), ("pair", 0.0, 4),
                                                 ("mix", 0.5, 2), ("mix", 0.25, 1)])
def test_mix_ratio(train_split, mode, fraction, pairs):
    sched = input_pipeline.BatchSchedule(train_split, batch_size=8, mode=mode,
                                         pair_fraction=fraction)
    idx, order = sched(0)
    assert sched.num_pairs == pairs and idx.shape == (8,) and order.shape == (pairs,)


def test_schedule_is_a_function_of_seed_and_step(train_split):
    s1 = input_pipeline.BatchSchedule(train_split, batch_size=8, seed=0)
    s2 = input_pipeline.BatchSchedule(train_split, batch_size=8, seed=0)
    s3 = input_pipeline.BatchSchedule(train_split, batch_size=8, seed=1)
    np.testing.assert_array_equal(s1(5)[0], s2(5)[0])
    assert any((s1(k)[0] != s3(k)[0]).any() for k in range(5))


def test_augment_is_a_dihedral_transform_per_video(train_split):
    idx = np.array([0, 1, 2])
    batch = input_pipeline.gather_batch(train_split, idx, np.ones(len(train_split)))
    before = {k: batch[k].copy() for k in ("high_frames", "low_patches")}
    input_pipeline.augment(batch, np.random.default_rng(5))
    for i in range(3):
        p0, p1 = before["low_patches"][i], batch["low_patches"][i]
        candidates = [np.rot90(p0, k, axes=(2, 3)) for k in range(4)]
        candidates += [np.flip(c, axis=3) for c in candidates]
        hits = [j for j, c in enumerate(candidates) if np.array_equal(c, p1)]
        assert hits, "not a rotation/mirror of the original patches"
        h0 = before["high_frames"][i]
        h_candidates = [np.rot90(h0, k, axes=(1, 2)) for k in range(4)]
        h_candidates += [np.flip(c, axis=2) for c in h_candidates]
        # the high-level frames got the same transform as the patches
        assert any(np.array_equal(h_candidates[j], batch["high_frames"][i]) for j in hits)


def test_comparison_text_answers_from_the_labels(train_split, tiny_model):
    """Each pair's pairwise target is the compare prompt + the answer built from the two
    labels (rounded); a pair with an unknown label gets no answer tokens."""
    from cpllm_model import prompts

    p = tiny_model.preprocessor
    calls = []

    def tokenize(a, b):
        calls.append((a, b))
        return p.tokenize_comparison(a, b, 96)

    text = input_pipeline.ComparisonText(tokenize)
    batch = {"label": np.array([70.6, 45.2, 30.0, 81.0, 70.6, 45.2], np.float32),
             "label_known": np.array([1, 1, 1, 0, 1, 1], np.float32)}
    out = text(batch, np.array([0, 2, 4]), np.array([1, 3, 5]))
    assert out["compare_token_ids"].shape == (3, 96)
    ids, resp = out["compare_token_ids"][0], out["compare_response_mask"][0]
    answer = p.tokenizer.detokenize([int(t) for t, r in zip(ids, resp) if r][:-1])
    answer = answer.numpy().decode() if hasattr(answer, "numpy") else str(answer)
    assert answer == prompts.compare_answer(70.6, 45.2)
    assert answer == "Score A: 71. Score B: 45. Video A is better."
    assert prompts.parse_compare_answer(answer) == ("A", 71.0, 45.0)
    assert out["compare_padding_mask"][0].sum() > resp.sum() > 0  # prompt + answer
    assert not out["compare_response_mask"][1].any()  # label of row 3 unknown
    np.testing.assert_array_equal(out["compare_token_ids"][2], ids)
    assert calls == [(71, 45), (30, 81)]  # the third pair's answer came from the cache
    # gather_batch says which labels are known.
    b = input_pipeline.gather_batch(train_split, np.array([0, 1]), np.ones(len(train_split)))
    np.testing.assert_array_equal(b["label_known"], np.isfinite(train_split.label[[0, 1]]))


def test_augment_aligned_pairs_share_their_transform(train_split):
    """With aligned pairs, both videos of a pair take the same rotation/mirror (their
    patches stay over the same pixels); other rows get what they get without it."""
    idx = np.array([0, 0, 1, 1, 2, 3])  # two pairs of identical videos, then singles
    mask = np.ones(len(train_split))
    aligned = input_pipeline.augment(input_pipeline.gather_batch(train_split, idx, mask),
                                     np.random.default_rng(3), aligned_pairs=2)
    free = input_pipeline.augment(input_pipeline.gather_batch(train_split, idx, mask),
                                  np.random.default_rng(3))
    for key in ("high_frames", "low_patches"):
        assert np.array_equal(aligned[key][0], aligned[key][1])
        assert np.array_equal(aligned[key][2], aligned[key][3])
        for i in (0, 2, 4, 5):
            assert np.array_equal(aligned[key][i], free[key][i])
    # Unaligned, this generator gives some pair two different transforms.
    assert not all(np.array_equal(free["low_patches"][i], free["low_patches"][i + 1])
                   for i in (0, 2))


@pytest.mark.parametrize("augment", [False, True])
def test_dataset_resumes_at_a_step(train_split, augment):
    sched = input_pipeline.BatchSchedule(train_split, batch_size=4, seed=0)
    full = list(input_pipeline.train_dataset(
        train_split, sched, start_step=0, num_steps=5, augment_frames=augment,
        regression_targets="originals").as_numpy_iterator())
    tail = list(input_pipeline.train_dataset(
        train_split, sched, start_step=3, num_steps=5, augment_frames=augment,
        regression_targets="originals").as_numpy_iterator())
    assert len(full) == 5 and len(tail) == 2
    for a, b in zip(full[3:], tail):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    b0 = full[0]
    assert b0["high_frames"].shape == (4, 8, 64, 64, 3)
    assert b0["pair_order"].shape == (1,)
    # regression on originals only: the mask marks exactly the CRF-20 videos
    idx, _ = sched(0)
    np.testing.assert_array_equal(b0["regression_mask"], train_split.crf[idx] == 20)
