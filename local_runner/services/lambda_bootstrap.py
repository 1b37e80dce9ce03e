"""Runs one handler from its built package the way Lambda's Python runtime does.

local_runner.infra.built_functions starts it in a fresh interpreter (`python -I -B`) of the Lambda
runtime's stand-in, which holds the standard library and the runtime's boto3 and botocore only.
The package folder goes first on sys.path, as /var/task does on Lambda; nothing is compiled into
it (the folder is read-only there). Standard library only: this file must bring nothing the
runtime lacks.

    python -I -B lambda_bootstrap.py PACKAGE_DIR HANDLER < {"event": ...}   (or {}: import only)

It writes one JSON document on stdout: the import's time (CPU and wall clock), the handler's
result, and where each top-level module outside the standard library came from. What the
handler prints goes to stderr, with its logs.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import sysconfig
import time
import uuid
from pathlib import Path
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        region = os.environ.get("AWS_REGION", "eu-north-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def module_origins(package_dir: Path) -> dict[str, str]:
    """Each loaded top-level module outside the standard library: 'package' or 'runtime'."""
    stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    origins = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if "." in name or name == "__main__" or not path:
            continue
        resolved = Path(path).resolve()
        if package_dir in resolved.parents:
            origins[name] = "package"
        elif "site-packages" in resolved.parts:
            origins[name] = "runtime"
        elif not any(root in resolved.parents for root in stdlib):
            origins[name] = str(resolved)
    return dict(sorted(origins.items()))


def main(package_dir: str, handler_name: str) -> None:
    folder = Path(package_dir).resolve()
    sys.path.insert(0, str(folder))
    request = json.loads(sys.stdin.read() or "{}")
    module_name, _, attribute = handler_name.rpartition(".")
    cpu, wall = time.process_time(), time.perf_counter()
    handler = getattr(importlib.import_module(module_name), attribute)
    import_cpu, import_wall = time.process_time() - cpu, time.perf_counter() - wall
    result = None
    if "event" in request:
        context = LambdaContext(
            os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"),
            int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")),
            float(request.get("timeout_seconds", 30)),
        )
        with contextlib.redirect_stdout(sys.stderr):
            result = handler(request["event"], context)
    report: dict[str, Any] = {
        "import_cpu_ms": round(import_cpu * 1000, 1),
        "import_wall_ms": round(import_wall * 1000, 1),
        "result": result,
        "modules": module_origins(folder),
    }
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
