"""The local DynamoDB: DynamoDB Local on Java when it can run, else moto's server, said plainly.

Tables are created from template.yaml's AWS::DynamoDB::Table resources when missing, so the
local schema is the deployed one. DynamoDB Local keeps its data in the local data folder.

DynamoDB Local checks no signature: whoever reaches its port owns the table. Its jar binds every
interface and has no option to choose one, so it is started through `java/BoundDynamoDBLocal.java`,
which builds the same server through the jar's own classes bound to one address (127.0.0.1 unless
DATABASE_BIND says otherwise). Where that cannot work, the jar's own main runs and the returned
`Database` carries the reason, for `up` to say plainly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_runner.infra.processes import ManagedProcess, free_port
from local_runner.services.template import TableSpec

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
"""DynamoDB Local's dummy keys: letters and digits only (it refuses '-' and '_')."""

_TABLE_ARGUMENTS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


LAUNCHER = Path(__file__).with_name("java") / "BoundDynamoDBLocal.java"
CANNOT_BIND = 3
"""BoundDynamoDBLocal's exit code when the jar's server cannot be bound (its classes changed)."""


@dataclass
class Database:
    kind: str
    endpoint_url: str
    stop: Callable[[], None]
    process: ManagedProcess | None = None
    unbound: str | None = None
    """Why it listens on every interface although it was asked to bind one address."""


def jar_dir(data_dir: Path) -> Path:
    return data_dir / "dynamodb-local"


def client(endpoint_url: str, region: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )


def answers(endpoint_url: str, region: str) -> bool:
    """True when a DynamoDB endpoint answers ListTables."""
    try:
        client(endpoint_url, region).list_tables(Limit=1)
    except (BotoCoreError, ClientError):
        return False
    return True


def dynamodb_local_available(data_dir: Path) -> str | None:
    """None when DynamoDB Local can run here, else the reason it cannot."""
    if shutil.which("java") is None:
        return "Java is not installed"
    if not (jar_dir(data_dir) / "DynamoDBLocal.jar").exists():
        return f"the DynamoDB Local jar is not in {jar_dir(data_dir)} (run ./dev setup)"
    return None


def endpoint_host(bind: str) -> str:
    """Where clients on this machine reach a server bound to `bind` (every interface: loopback)."""
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:  # a host name
        return bind
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return str(address) if address.version == 4 else f"[{address}]"


def launcher_classes(jars: Path) -> tuple[Path | None, str]:
    """The bound launcher, compiled once per version of its source into a folder beside the jar.

    Compiled with the compiler module of the Java runtime itself (Debian's headless JRE ships
    `jdk.compiler`), so no JDK is needed. Returns the folder, or None and the reason it failed.
    """
    digest = hashlib.sha256(LAUNCHER.read_bytes()).hexdigest()[:12]
    target = jars / f"bound-launcher-{digest}"
    if (target / "BoundDynamoDBLocal.class").exists():
        return target, ""
    try:
        work = Path(tempfile.mkdtemp(prefix=".bound-launcher-", dir=jars))
    except OSError as error:
        return None, f"its launcher has nowhere to be compiled ({error})"
    try:
        javac = ["java", "-m", "jdk.compiler/com.sun.tools.javac.Main", "-nowarn"]
        compiled = subprocess.run(
            [*javac, "-cp", str(jars / "DynamoDBLocal.jar"), "-d", str(work), str(LAUNCHER)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if compiled.returncode != 0:
            lines = (compiled.stderr or compiled.stdout).strip().splitlines()
            return None, f"its launcher did not compile ({lines[0] if lines else 'no output'})"
        try:
            work.rename(target)
        except OSError:  # another start compiled it meanwhile
            if not (target / "BoundDynamoDBLocal.class").exists():
                raise
        return target, ""
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"its launcher could not be compiled ({error})"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start_dynamodb_local(
    data_dir: Path, port: int, region: str, bind: str = "127.0.0.1", in_memory: bool = False
) -> Database:
    """DynamoDB Local bound to `bind`; if the launcher cannot bind it, the jar's own main, bound
    to every interface, with the reason in `Database.unbound`. `in_memory` keeps nothing on
    disk: a benchmark's bulk load then runs about 3.4 times faster (1,759 against 510 items/s,
    10,000 sessions, same run, 2026-12-04, docs/pages/performance.md), never the system's."""
    jars = jar_dir(data_dir).resolve()
    db_path = (data_dir / "dynamodb-data").resolve()
    db_path.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    storage = ["-inMemory"] if in_memory else ["-dbPath", str(db_path)]
    options = ["-port", str(port), *storage, "-sharedDb", "-disableTelemetry"]
    java = ["java", f"-Djava.library.path={jars / 'DynamoDBLocal_lib'}"]
    jar = str(jars / "DynamoDBLocal.jar")
    log_path = data_dir / "logs" / "dynamodb-local.log"
    endpoint = f"http://{endpoint_host(bind)}:{port}"
    classes, unbound = launcher_classes(jars)
    if classes is not None:
        process = ManagedProcess(
            "DynamoDB Local",
            [*java, "-cp", f"{jar}{os.pathsep}{classes}", "BoundDynamoDBLocal", bind, *options],
            log_path,
        )
        try:
            process.wait_until(lambda: answers(endpoint, region), timeout=60)
            return Database("DynamoDB Local", endpoint, process.stop, process)
        except RuntimeError:
            process.stop()
            if process.process.returncode != CANNOT_BIND:
                raise
            unbound = f"its launcher cannot bind this jar's server ({process.tail(1)})"
    endpoint = f"http://127.0.0.1:{port}"
    process = ManagedProcess("DynamoDB Local", [*java, "-jar", jar, *options], log_path)
    process.wait_until(lambda: answers(endpoint, region), timeout=60)
    return Database("DynamoDB Local", endpoint, process.stop, process, unbound=unbound)


def start_moto_server(port: int, bind: str = "127.0.0.1") -> Database:
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address=bind, port=port, verbose=False)
    server.start()
    return Database(
        "moto (in memory, not kept)", f"http://{endpoint_host(bind)}:{port}", server.stop
    )


def create_tables(endpoint_url: str, region: str, tables: list[TableSpec]) -> list[str]:
    """Create the template's tables that do not exist yet; return the names created."""
    dynamodb = client(endpoint_url, region)
    existing = set(dynamodb.list_tables()["TableNames"])
    created = []
    for table in tables:
        if table.name in existing:
            _add_missing_indexes(dynamodb, table)
            continue
        arguments = {k: v for k, v in table.properties.items() if k in _TABLE_ARGUMENTS}
        try:
            dynamodb.create_table(TableName=table.name, **arguments)
        except ClientError as error:
            # A create that timed out on a loaded machine is retried by botocore and then meets
            # the table its first attempt made: that is the table we asked for.
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        created.append(table.name)
    deadline = time.monotonic() + 30
    for name in created:
        while dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError(f"table {name} did not become ACTIVE")
            time.sleep(0.1)
    return created


def _add_missing_indexes(dynamodb: Any, table: TableSpec) -> None:
    """A data folder from an older template lacks newer indexes: add them, as a deploy would."""
    described = dynamodb.describe_table(TableName=table.name)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in table.properties.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in present:
            continue
        dynamodb.update_table(
            TableName=table.name,
            AttributeDefinitions=table.properties["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
