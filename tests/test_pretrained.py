"""The pretrained built-ins the package ships: each still loads, samples offline, and scores within a stated tolerance
of its card with today's code (a change that breaks the shipped weights, the export format or the scoring fails
here)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import ganzoo
from ganzoo.cli import main
from ganzoo.data import DataSpec
from ganzoo.errors import UnknownNameError
from ganzoo.metrics import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BUILT_INS = ("gan", "cgan", "acgan", "dcgan", "vae", "stylegan", "cyclegan")
#: The data each was trained on: the embedded MNIST, or the two-domain digits for the translation model.
DATA = {"cyclegan": "mnist-ab"}
#: How far a re-scored FID may be from its card: 2% of it plus 0.05 (same samples, seed and evaluator: only
#: floating-point differences between CPUs move it).
FID_TOLERANCE = (0.02, 0.05)
#: Precision, recall, density, coverage and class accuracy: two points.
SHARE_TOLERANCE = 0.02


def card(name: str) -> dict:
    """config.json of the shipped weights of ``name``."""
    return json.loads((ganzoo.pretrained_dir(name) / "config.json").read_text())


@pytest.mark.parametrize("name", BUILT_INS)
def test_the_shipped_weights_still_score_what_their_card_says(name: str) -> None:
    config = card(name)
    scores, protocol = config["scores"], config["scores"]["protocol"]
    assert config["weights_dtype"] == "float16" and config["dataset"] == DATA.get(name, "mnist-embedded")
    model = ganzoo.load(name, pretrained=True)
    now = evaluate(model, dataset=DataSpec.from_record(config), n=protocol["fake_count"], seed=protocol["seed"])
    assert now["protocol"]["evaluator"] == protocol["evaluator"]
    assert now["protocol"]["weights_sha256"] == protocol["weights_sha256"]
    rel, absolute = FID_TOLERANCE
    assert abs(now["fid"] - scores["fid"]) <= rel * scores["fid"] + absolute, (now["fid"], scores["fid"])
    for key in ("precision", "recall", "density", "coverage", "class_accuracy", "class_kept"):
        if scores.get(key) is not None:
            assert abs(now[key] - scores[key]) <= SHARE_TOLERANCE, (key, now[key], scores[key])


def test_sample_takes_the_pretrained_weights_offline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sevens.png"
    assert main(["sample", "cgan", "--pretrained", "--label", "7", "--out", str(out)]) == 0
    assert out.is_file() and "moving average" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    listed = {row["name"]: row["pretrained"] for row in json.loads(capsys.readouterr().out)}
    assert all(listed[name] for name in BUILT_INS)


def test_a_model_without_shipped_weights_says_which_have_them() -> None:
    from ganzoo.registry import host

    class Bare(ganzoo.GenerativeModel):
        """A model whose plugin ships no weights."""

        name = "bare"

    class Plugin:
        @ganzoo.hookimpl
        def register_models(self, register) -> None:
            register(Bare)

    assert Bare.pretrained_dir() is None
    host().register_plugin(Plugin(), name="bare-plugin")
    try:
        with pytest.raises(UnknownNameError, match="'bare' ships no pretrained weights; these do: acgan, cgan, "
                                                   "cyclegan, dcgan, gan, stylegan, vae"):
            ganzoo.pretrained_dir("bare")
    finally:
        host().unregister_plugin("bare-plugin")


def test_translate_takes_the_pretrained_cyclegan_offline(tmp_path: Path) -> None:
    """The card's usage line: grey digits in, coloured digits on a light background out."""
    import numpy as np
    from PIL import Image

    from ganzoo.data import embedded_mnist

    threes = tmp_path / "threes"
    threes.mkdir()
    data = embedded_mnist()
    for i, image in enumerate(data.images[data.labels == 3][:4]):
        Image.fromarray(image[0].numpy()).save(threes / f"{i}.png")
    out = tmp_path / "out"
    assert main(["translate", "cyclegan", "--pretrained", "--input", str(threes), "--to", "B", "--out", str(out)]) == 0
    pixels = np.stack([np.asarray(Image.open(out / f"{i}.png")) for i in range(4)])
    assert pixels.shape == (4, 28, 28, 3)
    assert pixels[:, 0, :, :].mean() > 150  # the border: a light background where the input was black
