"""`./dev build`: `sam build` every function, then each package's size and cold import time.

The packages go where `sam deploy` looks for them (.aws-sam/build). A cold import is the median of
five fresh interpreters of the Lambda runtime's stand-in (.local/lambda-runtime: Python 3.13 with
the runtime's boto3 and botocore only), each with the package folder first on sys.path: CPU time
(what the import costs, steady on a busy machine) and wall clock.

    ./dev build
"""

from __future__ import annotations

import sys
from pathlib import Path

from local_runner.infra.built_functions import (
    BuildError,
    cold_import_ms,
    lambda_environment,
    package_size,
    runs_here,
    sam_build,
    tool,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    data_dir = ROOT / ".local"
    build_dir = ROOT / ".aws-sam" / "build"
    print(f"sam build -> {build_dir.relative_to(ROOT)}", flush=True)
    try:
        functions = sam_build(build_dir, tool(data_dir, "sam"))
        python = tool(data_dir, "python")
        print(f"{'function':<20}{'files':>6}{'unzipped':>12}{'zipped':>10}   cold import")
        for function in functions.values():
            size = package_size(function.folder)
            if runs_here(function):
                environment = lambda_environment(function, "eu-north-1")
                cpu, wall = cold_import_ms(function, python, environment)
                cold = f"{cpu:.0f} ms CPU, {wall:.0f} ms wall"
            else:
                cold = f"not measured: compiled for {function.architecture}, not this machine"
            print(
                f"{function.logical_id:<20}{size.files:>6}{size.unzipped_bytes / 1000:>9.0f} kB"
                f"{size.zipped_bytes / 1000:>7.0f} kB   {cold}"
            )
    except BuildError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
