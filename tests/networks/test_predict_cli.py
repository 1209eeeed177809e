"""``python -m networks.predict``'s ``--json`` and ``--invert`` flags, through its main()."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from common.errors import run_main
from networks.predict import main, predict
from tests.networks.conftest import pattern_images


def write_png(path, img: np.ndarray) -> str:
    path.write_bytes(tf.io.encode_png(img[..., None]).numpy())
    return str(path)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = run_main(main, list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def probabilities(result: dict) -> dict[str, float]:
    return {e["class"]: e["probability"] for e in result["top"]}


def test_json_lists_every_image_with_its_ranked_classes(trained_softmax, tmp_path, capsys):
    x, y = pattern_images(10, 28, 10, seed=5)
    paths = [write_png(tmp_path / f"d{i}.png", x[i]) for i in range(3)]
    model = trained_softmax["saved_model"]
    code, out, err = cli(capsys, model, *paths, "--json", "--top", "4")
    assert code == 0, err
    results = json.loads(out)  # the whole stdout is one JSON document
    assert [r["image"] for r in results] == paths
    for r, label in zip(results, y[:3], strict=True):
        probs = [e["probability"] for e in r["top"]]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert r["top"][0]["class"] == str(int(label))
    assert results == predict(model, paths, top=4)  # the same as the Python API
    code, out, _ = cli(capsys, model, paths[0], "--top", "50", "--json")
    assert code == 0 and len(json.loads(out)[0]["top"]) == 10  # never more than the classes


def test_invert_flips_grey_levels(trained_softmax, tmp_path, capsys):
    x, y = pattern_images(10, 28, 10, seed=7)
    dark = write_png(tmp_path / "dark.png", x[2])  # MNIST-like: light digit on black
    light = write_png(tmp_path / "light.png", 255 - x[2])  # ink on paper
    model = trained_softmax["saved_model"]

    def ranked(path: str, invert: str) -> dict[str, float]:
        code, out, err = cli(capsys, model, path, "--json", "--top", "10", "--invert", invert)
        assert code == 0, err
        return probabilities(json.loads(out)[0])

    same = {
        "yes on the dark one is no on the light one": (ranked(dark, "yes"), ranked(light, "no")),
        "auto inverts the light one": (ranked(light, "auto"), ranked(light, "yes")),
        "auto leaves the dark one": (ranked(dark, "auto"), ranked(dark, "no")),
    }
    for what, (a, b) in same.items():
        assert a.keys() == b.keys(), what
        assert all(a[k] == pytest.approx(b[k], abs=1e-6) for k in a), what
    label = str(int(y[2]))
    assert ranked(dark, "no")[label] > 0.5 > ranked(dark, "yes")[label]  # it really flips


def test_bad_invert_value_is_one_line(trained_softmax, tmp_path, capsys):
    png = write_png(tmp_path / "d.png", np.zeros((28, 28), np.uint8))
    code, out, err = cli(capsys, trained_softmax["saved_model"], png, "--invert", "maybe")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "invalid choice: 'maybe'" in err
