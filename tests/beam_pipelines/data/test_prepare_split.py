"""prepare.split_of: splits by source, listed or by a deterministic hash fraction."""
from beam_pipelines import prepare


def test_listed_sources_are_held_out():
    assert prepare.split_of("a", ["a", "b"]) == "holdout"
    assert prepare.split_of("c", ["a", "b"]) == "train"


def test_hash_fraction_is_deterministic_and_near_the_fraction():
    ids = [f"src{i}" for i in range(2000)]
    splits = [prepare.split_of(s, (), 0.2) for s in ids]
    assert splits == [prepare.split_of(s, (), 0.2) for s in ids]
    share = splits.count("holdout") / len(ids)
    assert 0.17 < share < 0.23
    assert {prepare.split_of(s, (), 0.0) for s in ids} == {"train"}
    # a larger fraction only adds held-out sources (nested splits)
    more = [prepare.split_of(s, (), 0.4) for s in ids]
    assert all(m == "holdout" for s, m in zip(splits, more) if s == "holdout")
