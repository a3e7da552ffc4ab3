"""``ganzoo new-plugin NAME [--dir D]``: write a ready-to-install plugin package that passes ganzoo's conformance check."""
from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from string import Template

from ganzoo import __version__
from ganzoo.console import console
from ganzoo.errors import ConfigError, GanzooError
from ganzoo.registry import host, valid_name

__all__ = [
    "GITIGNORE", "INIT", "MAX_NAME", "MODEL", "NAME_RE", "PYPROJECT", "README", "TEST", "add_parser", "check_name",
    "class_name", "module_name", "run", "write_plugin",
]

#: A registered model name (``ganzoo.registry.NAME_RE``) that also names the generated package's distribution
#: (ganzoo-NAME), module (ganzoo_NAME) and class (CamelCase): stricter, since a module and a class name cannot
#: hold '.', start with a digit, or end in (or repeat) '-' or '_'.
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 40


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the new-plugin sub-command."""
    p = sub.add_parser("new-plugin", help="write a ready-to-install plugin package (ganzoo-NAME/)",
                       description="Write ganzoo-NAME/: a pip-installable package with one model (an MLP GAN "
                                   "to edit), its entry point and a test that runs ganzoo's conformance check.")
    p.add_argument("name", help="the model's name, e.g. 'mygan' (lower case, digits, '-' or '_')")
    p.add_argument("--dir", default=".", help="folder in which to create ganzoo-NAME/ (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the package and say what to do next."""
    root = write_plugin(args.name, args.dir)
    lines = [f"Created {root}/"]
    lines += [f"  {path.relative_to(root)}" for path in sorted(p for p in root.rglob("*") if p.is_file())]
    lines += ["", "Next:", f"  pip install -e {root}", f"  ganzoo list            # shows '{args.name}'",
              f"  pytest {root / 'tests'}",
              f"Then edit {root / module_name(args.name) / 'model.py'}; see docs/plugins.md."]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)
    return 0


def module_name(name: str) -> str:
    """The import name of the generated package: ``ganzoo_`` + NAME with '-' as '_'."""
    return "ganzoo_" + name.replace("-", "_")


def class_name(name: str) -> str:
    """The model class's name: NAME in CamelCase (``my-gan`` → ``MyGan``)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def check_name(name: str) -> None:
    """Raise ConfigError unless ``name`` is a usable, untaken model name."""
    if not valid_name(name) or len(name) > MAX_NAME or not NAME_RE.fullmatch(name):
        raise ConfigError(f"new-plugin {name!r}: a plugin name is lower-case letters and digits, starting with a "
                          f"letter, optionally joined by '-' or '_' (at most {MAX_NAME} characters), e.g. 'mygan'")
    if keyword.iskeyword(class_name(name)):
        raise ConfigError(f"new-plugin {name!r}: choose another name (its class name is a Python keyword)")
    table = host().table("models")
    if name in table:
        owner = table[name]
        raise ConfigError(f"new-plugin {name!r}: the model name is already taken by plugin {owner.plugin!r} "
                          f"(distribution {owner.dist!r}); choose another name (see 'ganzoo list')")


def write_plugin(name: str, parent: str | Path = ".") -> Path:
    """Write the package ``parent/ganzoo-NAME/`` and return its folder; never overwrites anything."""
    check_name(name)
    root = Path(parent) / f"ganzoo-{name}"
    if root.exists():
        raise GanzooError(f"{root} already exists; new-plugin never overwrites files. Remove it or pass another "
                          "--dir")
    module = module_name(name)
    values = {"name": name, "module": module, "cls": class_name(name),
              "ganzoo_version": ".".join(__version__.split(".")[:2])}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        ".gitignore": GITIGNORE,
        f"{module}/__init__.py": INIT,
        f"{module}/model.py": MODEL,
        f"tests/test_{module.removeprefix('ganzoo_')}.py": TEST,
    }
    try:
        root.mkdir(parents=True)
        for rel, template in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(values), encoding="utf-8")
    except OSError as exc:
        raise GanzooError(f"cannot write {root}: {exc.strerror or exc}; pass a writable --dir") from None
    return root


PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "ganzoo-$name"
version = "0.1.0"
description = "The $name model for ganzoo"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["ganzoo>=$ganzoo_version"]

[project.optional-dependencies]
test = ["pytest>=7"]

# ganzoo finds the plugin through this entry point: `ganzoo list` shows its models once the package is installed.
[project.entry-points.ganzoo]
$name = "$module"

[tool.setuptools]
packages = ["$module"]
"""

README = """\
# ganzoo-$name

The `$name` model, a plugin for ganzoo.

    pip install -e .            # ganzoo list now shows $name
    ganzoo info $name
    ganzoo train $name --steps 200
    pytest tests                # ganzoo's conformance check

Edit `$module/model.py` (the networks and the loss); the plugin tutorial is docs/plugins.md in ganzoo.
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
"""

INIT = '''\
"""ganzoo-$name: registers the $name model with ganzoo (entry point `$name` in pyproject.toml)."""
from __future__ import annotations

from typing import Any, Callable

import ganzoo
from $module.model import $cls

__all__ = ["$cls", "register_models"]


@ganzoo.hookimpl
def register_models(register: Callable[..., Any]) -> None:
    """Give ganzoo the $name model."""
    register($cls)
'''

MODEL = '''\
"""The $name model: an MLP GAN to start from. Change the networks, the loss or both."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganzoo import Range
from ganzoo.adversarial import AdversarialModel


class $cls(AdversarialModel):
    """$name: MLP generator and discriminator trained with ganzoo's shared GAN step."""

    name = "$name"
    description = "$name: an MLP GAN (made by ganzoo new-plugin; describe your model here)"
    conditional = False  # True: sample()/generate() receive class labels
    # Every hyperparameter with its default; zoo.yaml and --set may change only these, with the same types.
    defaults: dict[str, Any] = {**AdversarialModel.defaults, "hidden": 256}
    # Allowed values: a tuple of choices or a ganzoo.Range.
    choices: dict[str, Any] = {**AdversarialModel.choices, "hidden": Range(1, 65536)}

    def __init__(self, hparams: dict[str, Any] | None = None, image_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int = 10) -> None:
        super().__init__(hparams, image_shape, num_classes)
        pixels = math.prod(self.image_shape)  # sizes come from the data, never from constants
        hidden = self.hp.hidden
        self.G = nn.Sequential(nn.Linear(self.hp.latent_dim, hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, pixels), nn.Tanh())
        self.D = nn.Sequential(nn.Linear(pixels, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.build_optimizers()  # Adam for G and D from lr_g, lr_d, beta1, beta2

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Noise (N, latent_dim) → images (N, C, H, W) in [-1, 1]."""
        return self.G(z).view(-1, *self.image_shape)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images → one logit per image, shape (N,)."""
        return self.D(images.flatten(1)).squeeze(1)
'''

TEST = '''\
"""ganzoo's conformance check for the $name model (run: pytest tests)."""
from __future__ import annotations

import ganzoo
from ganzoo.testing import check_model
from $module import $cls

TINY = {"hidden": 16, "latent_dim": 8}  # small networks keep the check fast


def test_conforms_to_the_ganzoo_model_contract():
    check_model($cls, image_shapes=[(1, 28, 28), (3, 32, 32)], hparams=TINY)


def test_registered_through_the_entry_point():  # needs the package installed: pip install -e .
    assert ganzoo.model_class("$name") is $cls
'''
