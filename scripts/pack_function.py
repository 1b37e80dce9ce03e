"""Packs one Lambda function: copies the modules it imports into its package folder, nothing else.

`sam build` runs it through functions/Makefile (BuildMethod: makefile), in a copy of functions/.
A name without a dot is a whole package (ours: `publisher`, `evsessions`); a dotted name is that
one module with its parents' `__init__.py` only, the way `chalice package` ships Chalice's
runtime (`chalice.app`) without its command line. Modules are found in the current folder first,
then in the interpreter's own packages (the project's .venv, installed from uv.lock).

    python scripts/pack_function.py DEST MODULE [MODULE ...]
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

# Never packed: byte code of the build machine's Python, Chalice's local config, npm's stamp files.
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class PackError(Exception):
    """A module to pack cannot be found; the message says which."""


def _origin(module: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        raise PackError(f"cannot find {module}: run ./dev setup (it installs from uv.lock)")
    return Path(spec.origin)


def pack(module: str, destination: Path) -> None:
    """Copy `module` into `destination`: a whole package, or one module and its parents' inits."""
    parts = module.split(".")
    origin = _origin(module)
    if len(parts) == 1:
        if origin.name != "__init__.py":
            raise PackError(f"{module} is not a package: name the module as package.module")
        shutil.copytree(origin.parent, destination / module, ignore=_SKIPPED, dirs_exist_ok=True)
        return
    target = destination.joinpath(*parts[:-1])
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(origin, target / origin.name)
    for depth in range(1, len(parts)):
        init = _origin(".".join(parts[:depth]))
        shutil.copy2(init, destination.joinpath(*parts[:depth]) / "__init__.py")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    destination, modules = Path(argv[0]), argv[1:]
    sys.path.insert(0, str(Path.cwd()))
    destination.mkdir(parents=True, exist_ok=True)
    try:
        for module in modules:
            pack(module, destination)
    except PackError as error:
        print(f"pack_function: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
