"""The generator's moving average (``ema_decay`` / ``ema_half_life`` / ``ema_start``): how it averages, where it is
used, how it is saved and resumed, and the errors of bad values."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.checkpoint import load_model
from ganzoo.cli import main
from ganzoo.errors import ConfigError
from ganzoo.guard import checked_sample
from ganzoo.harness import TrainOptions, train
from ganzoo.testing import assert_same_state, tiny_batch


def _train(model: ganzoo.GenerativeModel, steps: int, start: int = 0) -> list[dict[str, torch.Tensor]]:
    """Run ``steps`` steps as the trainer does (update_ema after each); the G state after each step."""
    batch = tiny_batch(model.image_shape, n=8)
    states = []
    for step in range(start, start + steps):
        model.train_step(batch, step)
        model.update_ema(step + 1)
        net = getattr(model, model.sample_networks[0])
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    return states


def test_off_when_both_are_zero():
    model = ganzoo.create_model("dcgan", batch_size=8, ema_decay=0.0, ema_half_life=0.0)
    _train(model, 2)
    assert model.ema is None


def test_the_average_is_an_exponential_moving_average_of_weights_and_batchnorm_buffers():
    torch.manual_seed(0)
    model = ganzoo.create_model("dcgan", batch_size=8, ema_decay=0.8, ema_half_life=0.0, ema_start=2)
    states = _train(model, 5)
    expected = {k: v.float() for k, v in states[1].items()}  # step 2: the average starts as a copy
    for state in states[2:]:
        expected = {k: 0.8 * expected[k] + 0.2 * state[k].float() for k in expected}
    averaged = model.ema["G"].module.state_dict()
    assert int(model.ema["G"].n_averaged) == 4
    buffers = {k for k, _ in model.G.named_buffers()}
    assert any(k.endswith("running_mean") for k in buffers)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            continue
        torch.testing.assert_close(averaged[key].float(), value, rtol=1e-5, atol=1e-6, msg=key)
        assert not torch.equal(averaged[key], states[-1][key]) or key in buffers and "var" in key, key


def test_no_average_before_ema_start():
    model = ganzoo.create_model("gan", batch_size=8, ema_decay=0.9, ema_half_life=0.0, ema_start=3)
    _train(model, 2)
    assert model.ema is None
    _train(model, 1, start=2)
    assert model.ema is not None and model.ema.updates == 1


def test_half_life_gives_the_decay():
    model = ganzoo.create_model("gan", ema_decay=0.0, ema_half_life=10.0)
    assert model.ema_decay == pytest.approx(0.5 ** 0.1)
    assert model.ema_decay ** 10 == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["gan", "cgan", "acgan", "dcgan", "vae"])
def test_sampling_uses_the_average_and_raw_uses_the_trained_weights(name):
    torch.manual_seed(0)
    model = ganzoo.create_model(name, batch_size=8, ema_decay=0.5, ema_half_life=0.0)
    _train(model, 3)
    net = model.sample_networks[0]
    trained = getattr(model, net)
    labels = torch.arange(8) % 10 if model.conditional else None

    def draw() -> torch.Tensor:
        return checked_sample(model, 8, labels, torch.Generator().manual_seed(1))

    averaged = draw()
    assert getattr(model, net) is trained  # put back after sampling
    model.use_ema = False
    raw = draw()
    assert not torch.equal(averaged, raw)
    with model.ema.swapped_into(model):
        assert torch.equal(model.sample(8, labels, generator=torch.Generator().manual_seed(1)), averaged)
    assert getattr(model, net) is trained


def test_the_trained_network_comes_back_when_sampling_fails():
    model = ganzoo.create_model("gan", batch_size=8, ema_decay=0.5, ema_half_life=0.0)
    _train(model, 2)
    trained = model.G
    with pytest.raises(RuntimeError), model.sampling_weights():
        assert model.G is not trained
        raise RuntimeError("boom")
    assert model.G is trained


def test_the_optimizer_and_parameter_counts_ignore_the_average():
    model = ganzoo.create_model("gan", batch_size=8, ema_decay=0.5, ema_half_life=0.0)
    before = model.parameter_counts()
    _train(model, 2)
    assert model.parameter_counts() == before and "ema" not in model.networks()
    assert not any(p.requires_grad for p in model.ema.parameters())


@pytest.mark.parametrize("hparams, words", [
    ({"ema_decay": 1.0}, ["ema_decay", "[0, 1)"]),
    ({"ema_decay": -0.1}, ["ema_decay", "[0, 1)"]),
    ({"ema_half_life": -5}, ["ema_half_life"]),
    ({"ema_start": -1}, ["ema_start"]),
    ({"ema_decay": 0.99, "ema_half_life": 100.0}, ["ema_decay", "ema_half_life", "one"]),
])
def test_bad_values_are_config_errors_naming_the_key(hparams, words):
    with pytest.raises(ConfigError) as err:
        ganzoo.create_model("dcgan", **hparams)
    assert all(w in str(err.value) for w in words), str(err.value)


def _options(out: Path, steps: int, **kw) -> TrainOptions:
    return TrainOptions(model="dcgan", steps=steps, batch_size=8, seed=0, out=str(out), device="cpu",
                        overrides=["dcgan.ema_decay=0.7", "dcgan.ema_half_life=0", "dcgan.ema_start=2", "dcgan.g_channels=8",
                                   "dcgan.d_channels=8", "train.sample_every=0", "train.checkpoint_every=3"], **kw)


def test_saved_and_resumed_bit_for_bit(tmp_path: Path):
    straight = train(_options(tmp_path / "a", 6), quiet=True)
    train(_options(tmp_path / "b", 3), quiet=True)
    resumed = train(_options(tmp_path / "b", 6, resume=True), quiet=True)
    a, b = (torch.load(s.checkpoint, weights_only=True)["state"] for s in (straight, resumed))
    assert any(k.startswith("ema.G.") for k in a["networks"])
    assert_same_state(a, b)
    model, _ = load_model(tmp_path / "a")
    assert model.ema is not None and model.ema.updates == 5


def test_ganzoo_sample_uses_the_average_and_raw_the_trained_weights(tmp_path: Path, capsys):
    train(_options(tmp_path / "run", 4), quiet=True)
    assert main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "avg.npz"), "--n", "8"]) == 0
    assert "moving average" in capsys.readouterr().out
    assert main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "raw.npz"), "--n", "8", "--raw"]) == 0
    assert "trained weights" in capsys.readouterr().out
    import numpy as np
    avg, raw = (np.load(tmp_path / f)["images"] for f in ("avg.npz", "raw.npz"))
    assert avg.shape == raw.shape and not np.array_equal(avg, raw)


def test_ganzoo_eval_scores_the_average_and_says_so(tmp_path: Path, capsys):
    import json

    train(_options(tmp_path / "run", 4), quiet=True)
    generators = []
    for extra in ([], ["--raw"]):
        assert main(["eval", str(tmp_path / "run"), "--n", "200", "--json", *extra]) == 0
        generators.append(json.loads(capsys.readouterr().out)["protocol"]["generator"])
    assert generators[0].startswith("moving average (decay 0.7") and generators[1] == "trained weights"
