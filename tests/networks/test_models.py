"""The registry: every model builds for its data, names itself, and survives a safe-mode reload."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.errors import UsageError
from networks.catalog import MODELS, get_model_spec, register_model
from networks.models import BuildArgs, ModelSpec

SHAPES = {"mnist": ((28, 28, 1), 10), "fer2013": ((48, 48, 1), 7)}


def test_the_image_classifiers_are_registered():
    assert {
        "softmax",
        "mlp-sigmoid",
        "mlp-relu",
        "mlp-relu-dropout",
        "mnist-cnn",
        "emotion-cnn-classic",
        "emotion-cnn",
    } <= set(MODELS)
    for spec in MODELS.values():
        assert spec.epochs > 0 and spec.batch_size > 0 and spec.lr > 0 and spec.description


@pytest.mark.parametrize(
    "name",
    sorted(n for n, s in MODELS.items() if s.dataset in SHAPES and s.kind == "image-classifier"),
)
def test_builds_predicts_and_reloads_safely(name, tmp_path):
    spec = get_model_spec(name)
    shape, classes = SHAPES[spec.dataset]
    keras.utils.set_random_seed(0)
    model = spec.build(BuildArgs(shape, classes))  # uncompiled: no unbuilt optimizer to save
    assert model.name == name
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    p = model.predict(x, verbose=0)
    assert p.shape == (2, classes)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), p, rtol=1e-5, atol=1e-6)


def test_classic_emotion_net_is_the_2017_design():
    model = get_model_spec("emotion-cnn-classic").build(BuildArgs((48, 48, 1), 7))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (3, 3))]
    assert all(c.kernel_regularizer is not None for c in convs)
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [256, 7]


def test_mlp_widths():
    model = get_model_spec("mlp-sigmoid").build(BuildArgs((28, 28, 1), 10))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [200, 100, 60, 30, 10]
    assert dense[0].activation.__name__ == "sigmoid"


def test_unknown_model_and_duplicate_registration():
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        get_model_spec("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_model(ModelSpec("softmax", "mnist", "dup", lambda a: None, 1, 1, 0.1))
