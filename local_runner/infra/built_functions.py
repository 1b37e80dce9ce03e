"""The deployable packages: built with `sam build`, run the way Lambda runs them.

`sam build` packs each function through functions/Makefile (only the modules it imports). A built
handler runs in a fresh interpreter of the Lambda runtime's stand-in, `.local/lambda-runtime`
(the runtime's Python when setup finds one, with the runtime's boto3 and botocore and nothing
else; scripts/setup.sh makes it), with its package folder first on sys.path: whatever the
package lacks fails here as on Lambda.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import io
import json
import os
import platform
import statistics
import subprocess
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = Path(__file__).parents[1] / "services" / "lambda_bootstrap.py"
BUILD_INPUTS = ("template.yaml", "uv.lock", "functions", "scripts/pack_function.py")
"""What decides the built packages: a cached build is reused while none of these changed."""


class BuildError(RuntimeError):
    """`sam build` failed or a built handler could not run; the message has its output."""


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    handler: str
    folder: Path
    environment: dict[str, str]
    """The variables the template gives it that have a local value (secrets are left out)."""
    timeout_seconds: int
    architecture: str
    """arm64 or x86_64, as the template gives it: what its compiled modules are built for."""
    runtime: str = "python3.13"
    """Lambda's runtime identifier, as the template gives it."""


@dataclass(frozen=True)
class PackageSize:
    files: int
    unzipped_bytes: int
    zipped_bytes: int


@dataclass(frozen=True)
class Invocation:
    result: Any
    import_cpu_ms: float
    import_wall_ms: float
    modules: dict[str, str]
    """Each top-level module it loaded outside the standard library: 'package' or 'runtime'."""


def tool(data_dir: Path, name: str) -> Path:
    """A deploy tool scripts/setup.sh installed: `sam`, or `python` of the runtime's stand-in."""
    path = (
        data_dir / "tools" / "sam" / "bin" / "sam"
        if name == "sam"
        else data_dir / "lambda-runtime" / "bin" / "python"
    )
    if not path.exists():
        raise BuildError(f"{path} is missing: run ./dev setup --deploy-tools")
    return path


def sam_build(build_dir: Path, sam: Path, root: Path = ROOT) -> dict[str, BuiltFunction]:
    """Run `sam build` on the project's template into build_dir; return the built functions."""
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    completed = subprocess.run(
        [str(sam), "build", "--template-file", str(root / "template.yaml"), "--build-dir",
         str(build_dir)],
        cwd=root, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise BuildError(f"sam build failed:\n{completed.stdout}\n{completed.stderr}")
    return built_functions(build_dir, root)


def built_functions(build_dir: Path, root: Path = ROOT) -> dict[str, BuiltFunction]:
    template = load_template(root / "template.yaml")
    return {
        name: BuiltFunction(
            name,
            spec.handler,
            build_dir / name,
            spec.environment,
            spec.timeout_seconds,
            spec.architecture,
            spec.runtime,
        )
        for name, spec in template.functions.items()
    }


def inputs_digest(root: Path = ROOT) -> str:
    """A digest of every file that decides the packages (byte code and hidden files aside)."""
    digest = hashlib.sha256()
    for path in sorted(_input_files(root)):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _input_files(root: Path) -> Iterable[Path]:
    for name in BUILD_INPUTS:
        path = root / name
        if path.is_file():
            yield path
        for file in path.rglob("*") if path.is_dir() else ():
            relative = file.relative_to(path).parts
            skipped = any(part.startswith(".") or part == "__pycache__" for part in relative)
            if file.is_file() and not skipped:
                yield file


def cached_build(data_dir: Path, root: Path = ROOT) -> dict[str, BuiltFunction]:
    """The packages as `sam build` makes them now, built again only when an input changed."""
    build_dir = data_dir / "sam-build"
    stamp = build_dir / f".inputs-{inputs_digest(root)}"
    if not stamp.exists():
        for old in build_dir.glob(".inputs-*"):
            old.unlink()
        sam_build(build_dir, tool(data_dir, "sam"), root)
        stamp.touch()
    return built_functions(build_dir, root)


def runs_here(function: BuiltFunction) -> bool:
    """Whether this machine can import the package: it holds no compiled module, or its compiled
    modules are built for this machine's architecture (Lambda calls aarch64 arm64)."""
    machine = {"aarch64": "arm64"}.get(platform.machine(), platform.machine())
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = any(path.name.endswith(suffixes) for path in function.folder.rglob("*"))
    return function.architecture == machine or not compiled


def package_size(folder: Path) -> PackageSize:
    """Files, bytes on disk once unpacked (Lambda's 250 MB limit) and zipped (the upload)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return PackageSize(len(files), sum(path.stat().st_size for path in files), buffer.tell())


def lambda_environment(
    function: BuiltFunction, region: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What the function's interpreter sees: the template's variables, the ones Lambda itself
    sets (dummy credentials: only loopback endpoints answer here), and `extra`."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": str(function.folder),
        **function.environment,
        **(extra or {}),
    }


def invoke(
    function: BuiltFunction,
    python: Path,
    environment: Mapping[str, str],
    event: Any = None,
    *,
    import_only: bool = False,
) -> Invocation:
    """Import the handler from its package in a fresh runtime interpreter and, unless
    import_only, call it once with `event`."""
    request = {} if import_only else {"event": event, "timeout_seconds": function.timeout_seconds}
    completed = subprocess.run(
        [str(python), "-I", "-B", str(BOOTSTRAP), str(function.folder), function.handler],
        input=json.dumps(request), env=dict(environment), capture_output=True, text=True,
        timeout=function.timeout_seconds + 30, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise BuildError(
            f"{function.logical_id} failed in the runtime's interpreter:\n{completed.stderr}"
        )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return Invocation(
        report["result"], report["import_cpu_ms"], report["import_wall_ms"], report["modules"]
    )


def cold_import_ms(
    function: BuiltFunction, python: Path, environment: Mapping[str, str], runs: int = 5
) -> tuple[float, float]:
    """Median CPU and wall-clock milliseconds of importing the handler in a fresh interpreter."""
    invocations = [invoke(function, python, environment, import_only=True) for _ in range(runs)]
    return (
        statistics.median(i.import_cpu_ms for i in invocations),
        statistics.median(i.import_wall_ms for i in invocations),
    )
