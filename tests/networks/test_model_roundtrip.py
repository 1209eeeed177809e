"""Every registered model builds on tiny data, saves as .keras, reloads in safe mode and predicts
the same: parametrised over the registry, so a model added to networks.catalog is tested too."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from networks.catalog import MODELS
from networks.datasets import Dataset, load_dataset, make_lake
from networks.models import BuildArgs
from tests.networks.conftest import write_fer_npz, write_mnist_npz
from tests.networks.textdata import write_imdb_dir, write_ptb

# How to get a tiny copy of each dataset the registry's models train on.
TINY_DATA = {
    "mnist": lambda root: load_dataset("mnist", write_mnist_npz(root, 40, 10).parent),
    "fer2013": lambda root: load_dataset("fer2013", write_fer_npz(root, 14).parent),
    "lake": lambda root: make_lake({"train": 2, "val": 1, "test": 1}),
    "imdb": lambda root: load_dataset("imdb", write_imdb_dir(root, n_train=6, n_test=3)),
    "ptb": lambda root: load_dataset("ptb", write_ptb(root)),  # splits of >= 35 words (medium)
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Tiny datasets, made once and only read by the tests."""
    made: dict[str, Dataset] = {}

    def get(name: str) -> Dataset:
        if name not in TINY_DATA:
            pytest.fail(f"no tiny data for dataset {name!r}: add a maker to TINY_DATA")
        if name not in made:
            made[name] = TINY_DATA[name](tmp_path_factory.mktemp(name))
        return made[name]

    return get


def outputs(model: keras.Model, x) -> list[np.ndarray]:
    out = model(x, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]


@pytest.mark.parametrize("name", list(MODELS))
def test_model_builds_saves_and_reloads_in_safe_mode(name, tiny_data, tmp_path):
    spec = MODELS[name]
    data = tiny_data(spec.dataset)
    prep = spec.prepare(data)
    args = BuildArgs(
        tuple(prep.x_train.shape[1:]), data.num_classes, prep.x_train, data.class_names
    )
    keras.utils.set_random_seed(0)
    model = spec.make(args, spec.lr, total_steps=10)  # as networks.train builds it
    assert model.name == name  # a saved file says which model it is (networks.predict reads it)
    x = prep.x_test[:2]
    saved = {"model": model}
    if spec.companions:  # e.g. an autoencoder's encoder, saved beside it for the agents
        saved.update(spec.companions(model))
    for part, net in saved.items():
        before = outputs(net, x)
        assert all(np.isfinite(b).all() for b in before), part
        path = tmp_path / f"{part}.keras"
        net.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)  # nothing in the file runs
        assert [w.shape for w in loaded.weights] == [w.shape for w in net.weights], part
        for a, b in zip(before, outputs(loaded, x), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} {part}")


def test_every_dataset_of_the_registry_has_tiny_data():
    assert {spec.dataset for spec in MODELS.values()} <= set(TINY_DATA)
    assert len(MODELS) >= 18  # the registry is not accidentally empty or filtered


def test_companion_files_have_their_own_names(tiny_data, tmp_path):
    """What networks.train saves beside a model: ``<stem>.<part>.keras``, loadable alone."""
    ae = MODELS["lake-autoencoder"]
    data = tiny_data(ae.dataset)
    prep = ae.prepare(data)
    model = ae.make(BuildArgs(tuple(prep.x_train.shape[1:]), data.num_classes), ae.lr, 10)
    parts = ae.companions(model)
    assert list(parts) == ["encoder"]
    encoder = parts["encoder"]
    encoder.save(tmp_path / "lake.encoder.keras")
    code = keras.models.load_model(Path(tmp_path / "lake.encoder.keras"), safe_mode=True)(
        prep.x_test[:2]
    )
    assert code.shape[0] == 2 and code.ndim == 2
