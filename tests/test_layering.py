"""The layers' dependencies point one way: domain <- billing <- payments / jobs <- bot / web / cli.

Every import of every module under src/medialab is read (those inside functions and under
TYPE_CHECKING too): a lower layer that reaches up, even lazily, fails here. Payments and jobs tell
a user something through the `Notifier` port (medialab/notify.py), never through the bot; the
composition roots (services.py, web/app.py, worker_app.py, cli.py) wire the layers together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medialab

PACKAGE = Path(medialab.__file__).parent
# What sits above every layer below: the entry points and what they are composed of.
ENTRY = {"bot", "web", "cli", "services", "worker_app", "demo", "sandbox", "admin"}
# For each lower layer (a package, or a module beside them), the medialab packages it must not import.
FORBIDDEN = {
    "domain": ENTRY | {"billing", "payments", "jobs", "notify", "db", "storage"},
    "billing": ENTRY | {"payments", "jobs", "notify"},
    "notify": ENTRY | {"payments", "jobs"},
    "payments": ENTRY,
    "jobs": ENTRY,
}


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of each import in a module of `package`, relative ones made absolute."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            # `from medialab import services` imports medialab.services.
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        forbidden = FORBIDDEN.get(layer_of(path))
        if forbidden is None:
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for line, name in imported_modules(path.read_text(), package):
            parts = name.split(".")
            if parts[0] == "medialab" and len(parts) > 1 and parts[1] in forbidden:
                found.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    return found


def test_lower_layers_never_import_the_layers_above_them() -> None:
    assert violations() == []


@pytest.mark.parametrize("source, expected", [
    ("from medialab.bot.notifier import Notifier\n", ["medialab.bot.notifier.Notifier"]),
    ("from ..bot import notifier\n", ["medialab.bot.notifier"]),
    ("def f():\n    import medialab.web.app\n", ["medialab.web.app"]),
])
def test_the_reader_sees_every_kind_of_import(source: str, expected: list[str]) -> None:
    # As read in a module of medialab.jobs.
    assert [name for _, name in imported_modules(source, "medialab.jobs")] == expected
