"""Python training configs (big_vision style) and `key=value` command-line overrides.

A config file defines `get_config() -> ConfigDict`. `ml_collections` is not a dependency
of this project, so `ConfigDict` is a small attribute-access dict and overrides come from
`--override a.b=value` flags: the value is parsed to the type of the existing entry
(bool accepts true/false/1/0; None-valued entries take a Python literal), and unknown keys
are an error, so a typo never trains silently with the default.
"""
from __future__ import annotations

import ast
import copy
import importlib.util
import json


class ConfigDict(dict):
    """A dict whose keys are also attributes; nested dicts become ConfigDicts."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def __setitem__(self, key, value):
        if isinstance(value, dict) and not isinstance(value, ConfigDict):
            value = ConfigDict(value)
        super().__setitem__(key, value)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return ConfigDict(copy.deepcopy(dict(self), memo))

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self))


def load_config(path: str) -> ConfigDict:
    """Imports a config file and returns its `get_config()`."""
    spec = importlib.util.spec_from_file_location("_cpllm_train_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return ConfigDict(module.get_config())


def _parse_like(old, text: str):
    if isinstance(old, bool):
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"not a bool: {text!r}")
    if isinstance(old, int):
        return int(text)
    if isinstance(old, float):
        return float(text)
    if isinstance(old, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: ConfigDict, overrides) -> ConfigDict:
    """Returns a copy of `config` with each `dotted.key=value` of `overrides` applied."""
    config = copy.deepcopy(config)
    for item in overrides or ():
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        *parents, leaf = key.strip().split(".")
        node = config
        for p in parents:
            if p not in node or not isinstance(node[p], dict):
                raise KeyError(f"unknown config key {key!r}")
            node = node[p]
        if leaf not in node:
            raise KeyError(f"unknown config key {key!r}")
        node[leaf] = _parse_like(node[leaf], text)
    return config
