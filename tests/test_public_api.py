"""The "Public API" section of docs/plugins.md and the modules' ``__all__`` say the same thing."""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import ganzoo

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def _section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## Public API")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def documented() -> dict[str, set[str]]:
    """Module -> names, from the table rows ``| `module` | for | `name`, `name` |``."""
    rows = re.findall(r"^\| `(ganzoo[\w.]*)` \|[^|]*\|(.*)\|$", _section(), flags=re.MULTILINE)
    return {module: set(re.findall(r"`(\w+)`", names)) for module, names in rows}


def internal() -> set[str]:
    """The modules the section lists as internal."""
    paragraph = _section().split("Internal, for ganzoo's own use", 1)[1]
    return set(re.findall(r"`(ganzoo[\w.]*)`", paragraph))


def modules() -> list[str]:
    """Every importable module of the ganzoo package but ``__main__``."""
    found = ["ganzoo"] + [m.name for m in pkgutil.walk_packages(ganzoo.__path__, "ganzoo.")]
    return sorted(m for m in found if not m.endswith(".__main__"))




def _all(name: str) -> list[str] | None:
    module = importlib.import_module(name)
    return getattr(module, "__all__", None)


@pytest.mark.parametrize("name", modules())
def test_every_module_declares_its_surface(name):
    exported = _all(name)
    assert exported is not None, f"{name} has no __all__; add one listing its public names"
    module = importlib.import_module(name)
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"


@pytest.mark.parametrize("name", modules())
def test_every_module_is_in_the_public_api_section(name):
    assert (name in documented()) != (name in internal()), (
        f"{name}: list it in exactly one place in docs/plugins.md's Public API section (the table or 'Internal')")


@pytest.mark.parametrize("name", sorted(documented()))
def test_the_documented_names_are_the_modules_all(name):
    exported = _all(name)
    assert exported is not None, f"{name} is documented as public but has no __all__"
    assert documented()[name] == set(exported), (
        f"{name}: documented but not in __all__: {sorted(documented()[name] - set(exported))}; "
        f"in __all__ but not documented: {sorted(set(exported) - documented()[name])}")


def test_the_section_lists_the_plugin_authors_toolkit():
    assert {"ganzoo", "ganzoo.nn", "ganzoo.losses", "ganzoo.adversarial", "ganzoo.testing"} <= set(documented())
    assert documented()["ganzoo.harness"] == {"TrainOptions", "train", "RunSummary", "TrainingInterrupted", "resolve_run_dir"}


def _public_classes() -> list[tuple[str, type]]:
    out = []
    for module, names in sorted(documented().items()):
        mod = importlib.import_module(module)
        out += [(f"{module}.{n}", getattr(mod, n)) for n in sorted(names)
                if isinstance(getattr(mod, n, None), type) and not issubclass(getattr(mod, n), BaseException)]
    return out


@pytest.mark.parametrize("qualname,cls", _public_classes(), ids=[q for q, _ in _public_classes()])
def test_help_on_a_public_constructor_says_what_it_takes(qualname, cls):
    """help(Class.__init__) shows ganzoo's words, never torch's ("Initialize internal Module state")."""
    import torch

    init = cls.__init__
    if init is object.__init__ or getattr(cls, "__dataclass_fields__", None) is not None:
        return  # no constructor of its own, or a dataclass (its fields are its documentation)
    doc = init.__doc__ or ""
    assert doc.strip() and doc != torch.nn.Module.__init__.__doc__, (
        f"{qualname}.__init__ has no docstring of its own; say what the constructor takes")
