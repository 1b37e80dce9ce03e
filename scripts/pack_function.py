"""Packs one Lambda function: copies the modules it imports into its package folder, nothing else.

`sam build` runs it through functions/Makefile (BuildMethod: makefile), in a copy of functions/.
A name without a dot is a whole package (ours: `publisher`, `evsessions`); a dotted name is that
one module with its parents' `__init__.py` only, the way `chalice package` ships Chalice's
runtime (`chalice.app`) without its command line. Modules are found in the current folder first,
then in the interpreter's own packages (the project's .venv, installed from uv.lock).

A package with compiled modules (rpds, under jsonschema) is not copied from the .venv, which was
built for this machine: its wheel, at the version the .venv holds, is installed for the Python
and the architecture template.yaml gives FUNCTION (Runtime, Architectures), by the project's uv.

    python scripts/pack_function.py DEST FUNCTION MODULE [MODULE ...]
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local_runner.runner_settings import RunnerSettings
from local_runner.services.template import TemplateError, load_template

ROOT = Path(__file__).resolve().parents[1]

# Never packed: byte code of the build machine's Python, Chalice's local config, npm's stamp files.
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

_WHEEL_PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
"""uv's --python-platform for each Lambda architecture (manylinux2014: glibc 2.17, below
Amazon Linux 2023's 2.34)."""


class PackError(Exception):
    """A module to pack cannot be found or fetched; the message says which."""


@dataclass(frozen=True)
class Target:
    """Where the package runs: what its compiled modules are installed for."""

    python_version: str
    platform: str
    wheels: Path
    """A scratch folder the target's wheels are installed into."""


def target_of(function: str, wheels: Path, template: Path = ROOT / "template.yaml") -> Target:
    """The Python and the platform template.yaml gives `function`."""
    try:
        spec = load_template(template).functions[function]
    except TemplateError as error:
        raise PackError(str(error)) from None
    except KeyError:
        raise PackError(f"template.yaml has no function {function}") from None
    if not spec.runtime.startswith("python"):
        raise PackError(f"{function}: runtime {spec.runtime!r} is not a Python runtime")
    if spec.architecture not in _WHEEL_PLATFORMS:
        raise PackError(f"{function}: unknown architecture {spec.architecture!r}")
    return Target(spec.runtime.removeprefix("python"), _WHEEL_PLATFORMS[spec.architecture], wheels)


def _origin(module: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        raise PackError(f"cannot find {module}: run ./dev setup (it installs from uv.lock)")
    return Path(spec.origin)


def _compiled(folder: Path) -> bool:
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return any(path.name.endswith(suffixes) for path in folder.rglob("*"))


def _uv() -> Path:
    data_dir = RunnerSettings.from_env().local_data_dir
    uv = (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "tools" / "uv" / "bin" / "uv"
    if not uv.exists():
        raise PackError(f"{uv} is missing: run ./dev setup")
    return uv


def _built_for(package: str, target: Target) -> Path:
    """`package` as its wheel for the target installs it, at the version the .venv holds."""
    distributions = importlib.metadata.packages_distributions().get(package)
    if not distributions:
        raise PackError(f"{package} comes from no installed distribution: run ./dev setup")
    requirement = f"{distributions[0]}=={importlib.metadata.version(distributions[0])}"
    folder = target.wheels / distributions[0]
    completed = subprocess.run(
        [str(_uv()), "pip", "install", "--quiet", "--no-deps", "--only-binary", ":all:",
         "--python", sys.executable, "--python-version", target.python_version,
         "--python-platform", target.platform, "--target", str(folder), requirement],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise PackError(
            f"cannot install {requirement} for {target.platform}:\n{completed.stderr.strip()}"
        )
    return folder / package


def pack(module: str, destination: Path, target: Target) -> None:
    """Copy `module` into `destination`: a whole package, or one module and its parents' inits."""
    parts = module.split(".")
    origin = _origin(module)
    if len(parts) == 1:
        if origin.name != "__init__.py":
            raise PackError(f"{module} is not a package: name the module as package.module")
        source = origin.parent
        if _compiled(source):
            source = _built_for(module, target)
        shutil.copytree(source, destination / module, ignore=_SKIPPED, dirs_exist_ok=True)
        return
    if origin.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        raise PackError(f"{module} is compiled: pack its whole package")
    target_folder = destination.joinpath(*parts[:-1])
    target_folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(origin, target_folder / origin.name)
    for depth in range(1, len(parts)):
        init = _origin(".".join(parts[:depth]))
        shutil.copy2(init, destination.joinpath(*parts[:depth]) / "__init__.py")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    destination, function, modules = Path(argv[0]), argv[1], argv[2:]
    sys.path.insert(0, str(Path.cwd()))
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="pack-wheels-") as wheels:
            target = target_of(function, Path(wheels))
            for module in modules:
                pack(module, destination, target)
    except PackError as error:
        print(f"pack_function: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
