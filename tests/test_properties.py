"""Property tests: every parser of user input ends in success or a UserError, never in anything else."""

import json
import math
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctcasr.artifacts import load_registry
from ctcasr.config import load_recipe
from ctcasr.data.manifest import read_manifest
from ctcasr.decoding.lm_build import read_text_lines
from ctcasr.decoding.settings import load_decoding
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines
from ctcasr.tune_lm import parse_grid

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# YAML-ish values: scalars of every kind, including the ones YAML 1.1 gets wrong, and nested containers
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["1e-4", ".nan", "-.inf", "abc", "", "[1,", "{a: 1}"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), inner, max_size=3), max_leaves=6)
RECIPE_KEYS = ["trainer.epochs", "trainer.threads", "trainer.devices", "trainer.precision", "optim.lr",
               "optim.betas", "optim.warmup_fraction", "data.num_workers", "data.batch_seconds",
               "data.train_manifest", "data.train_weights", "model.rnn_hidden", "model.conv_strides",
               "model.rnn_type", "model.preset", "features.n_mels", "features.f_max", "augment.speed_prob",
               "augment.speeds", "augment.spec_augment", "augment.spec_augment.freq_masks", "text.oov",
               "trainer", "nosuch.key", "trainer.nosuch"]


def user_error_or_success(call):
    try:
        return call()
    except UserError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
        return None


@FAST
@given(st.lists(st.tuples(st.sampled_from(RECIPE_KEYS), values), max_size=3))
def test_recipe_overrides(pairs):
    overrides = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                 for k, v in pairs]
    recipe = user_error_or_success(lambda: load_recipe(None, overrides))
    if recipe is not None:  # what is accepted is typed and in range
        assert isinstance(recipe.trainer.epochs, int) and recipe.trainer.epochs >= 1
        assert math.isfinite(recipe.optim.lr) and recipe.optim.lr > 0
        assert recipe.data.num_workers >= 0


@FAST
@given(st.text(max_size=40))
def test_raw_override_strings(text):
    user_error_or_success(lambda: load_recipe(None, [text]))


@FAST
@given(values)
def test_recipe_files(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("r") / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree))
    user_error_or_success(lambda: load_recipe(path))


DECODING_KEYS = ["decoder", "beam", "nbest", "alpha", "beta", "blank_skip", "unk_penalty", "lm", "token_topk",
                 "token_cum_prob", "beam_threshold", "lexicon", "rescore_weight", "nosuch"]


@FAST
@given(st.dictionaries(st.sampled_from(DECODING_KEYS), values, max_size=4))
def test_decoding_files(tmp_path_factory, settings_):
    path = tmp_path_factory.mktemp("d") / "x.decoding.yaml"
    path.write_text(yaml.safe_dump({"decoding": settings_}))
    config = user_error_or_success(lambda: load_decoding(path))
    if config is not None:
        assert math.isfinite(config.alpha) and math.isfinite(config.beta) and config.beam >= 1


def manifest_lines():
    row = st.fixed_dictionaries({}, optional={"audio_filepath": values, "duration": values, "text": values,
                                              "id": values})
    return st.lists(st.one_of(row.map(json.dumps), st.text(max_size=30),
                              st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)), max_size=4)


@FAST
@given(manifest_lines())
def test_manifests(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("m") / "m.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    items = user_error_or_success(lambda: read_manifest(path))
    for u in items or []:
        assert u.duration > 0 and math.isfinite(u.duration) and isinstance(u.text, str)


@FAST
@given(st.binary(max_size=200))
def test_binary_manifests_and_text(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("b")
    for name in ("m.jsonl", "t.txt", "l.csv"):
        (folder / name).write_bytes(data)
    user_error_or_success(lambda: read_manifest(folder / "m.jsonl"))
    user_error_or_success(lambda: list(read_text_lines(folder / "t.txt")))
    user_error_or_success(lambda: list(read_text_lines(folder / "l.csv")))
    user_error_or_success(lambda: utf8_lines(data, "x"))


@FAST
@given(values)
def test_registries(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("g") / "registry.yaml"
    path.write_text(yaml.safe_dump(tree))
    user_error_or_success(lambda: load_registry(path))


@FAST
@given(st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=6),
                       st.dictionaries(st.sampled_from(["kind", "description", "url", "local", "size", "sha256"]),
                                       values, max_size=4), max_size=3))
def test_registry_entries(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("g") / "registry.yaml"
    path.write_text(yaml.safe_dump(tree))
    user_error_or_success(lambda: load_registry(path))


@FAST
@given(st.text(max_size=30))
def test_grids(text):
    grid = user_error_or_success(lambda: parse_grid(text, "alphas"))
    assert grid is None or (grid and all(math.isfinite(v) for v in grid))


def test_the_properties_ran():
    """Guard: the strategies above produce inputs that get rejected and inputs that pass."""
    with pytest.raises(UserError):
        load_recipe(None, ["optim.lr=.nan"])
    assert load_recipe(None, ["optim.lr=1e-4"]).optim.lr == pytest.approx(1e-4)
