"""A run reads back through TensorBoard's default loader (``--load_fast``: the Rust data server
behind a gRPC data provider) with every image, text and scalar it wrote.

That loader keeps one plugin per (run, tag): an image and a text sharing a tag lost the image
("No image data was found" unless ``--load_fast=false``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard import context
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util

from networks.datasets import Dataset
from networks.train import TrainConfig, train
from tests.networks.conftest import pattern_images


def read_back(logdir: Path) -> dict[str, dict[str, list[str]]]:
    """plugin -> run -> tags, as TensorBoard's default (fast) loading path lists them."""
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=0,  # load once
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
    )
    ingester.start()
    provider, ctx = ingester.data_provider, context.RequestContext()
    found = {}
    for plugin, listing in (
        ("scalars", provider.list_scalars),
        ("images", provider.list_blob_sequences),
        ("text", provider.list_tensors),
        ("histograms", provider.list_tensors),
    ):
        runs = listing(ctx, experiment_id="", plugin_name=plugin)
        found[plugin] = {run: sorted(tags) for run, tags in runs.items()}
    return found


def digits(n: int, seed: int) -> Dataset:
    x, y = pattern_images(n, 28, 10, seed)
    return Dataset(
        "mnist", x, y, x[: n // 4], y[: n // 4], x[n // 4 :], y[n // 4 :], tuple("0123456789")
    )


@pytest.fixture(scope="module")
def data() -> Dataset:
    return digits(96, 0)


def run(model: str, data: Dataset, logdir: Path) -> dict:
    config = TrainConfig(model=model, epochs=1, batch_size=32, logdir=str(logdir), progress=False)
    return train(config, data=data)


def test_classifier_images_text_and_scalars_all_load_fast(data, tmp_path):
    summary = run("softmax", data, tmp_path / "run")
    assert summary["test_accuracy"] < 1  # one short epoch: some digits are misclassified
    found = read_back(tmp_path / "run")
    assert found["images"] == {".": ["confusion_matrix", "misclassified"]}
    assert set(found["text"]["."]) >= {"config", "confusion_matrix_counts", "misclassified_labels"}
    assert found["scalars"]["train"] == ["epoch_accuracy", "epoch_loss", "learning_rate"]
    assert found["scalars"]["validation"] == ["epoch_accuracy", "epoch_loss"]
    assert found["histograms"]["train"]  # the weights


def test_autoencoder_reconstructions_load_fast(data, tmp_path):
    run("autoencoder", data, tmp_path / "ae")
    found = read_back(tmp_path / "ae")
    assert set(found["images"]["."]) >= {"reconstructions", "originals", "reconstructed"}
    assert "reconstruction" in found["text"]["."]
    assert "epoch_loss" in found["scalars"]["validation"]
