from pathlib import Path

import pytest

from ctcasr.config import load_recipe
from ctcasr.errors import UserError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_an4_recipe_loads_with_overrides():
    recipe = load_recipe(RECIPES / "an4_ds2.yaml", ["trainer.epochs=3", "optim.lr=0.01", "model.rnn_hidden=64"])
    assert recipe.trainer.epochs == 3
    assert recipe.optim.lr == 0.01
    arch, config = recipe.model_settings()
    assert arch == "deepspeech2" and config.rnn_hidden == 64 and config.rnn_layers == 4
    assert recipe.augment.spec_augment.freq_width == 10


@pytest.mark.parametrize(("overrides", "problem"), [
    (["trainer.epochz=3"], "unknown recipe key 'trainer.epochz'"),
    (["augment.spec_augment.freq_widht=3"], "unknown recipe key 'augment.spec_augment.freq_widht'"),
    (["model.rnn_hiden=3"], "unknown model setting 'model.encoder.rnn_hiden'"),
    (["model.preset=huge"], "unknown deepspeech2 preset 'huge'"),
    (["trainer"], "must look like section.key=value"),
])
def test_bad_keys_are_named(overrides, problem):
    with pytest.raises(UserError, match=problem.replace(".", r"\.")):
        load_recipe(RECIPES / "an4_ds2.yaml", overrides)


def test_unknown_key_in_a_recipe_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("trainer:\n  epochs: 2\n  learning_rate: 3\n")
    with pytest.raises(UserError) as err:
        load_recipe(path)
    assert str(path) in str(err.value) and "'trainer.learning_rate'" in str(err.value)
