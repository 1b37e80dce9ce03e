"""The local DynamoDB: DynamoDB Local on Java when it can run, else moto's server, said plainly.

Tables are created from template.yaml's AWS::DynamoDB::Table resources when missing, so the
local schema is the deployed one. DynamoDB Local keeps its data in the local data folder.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_runner.processes import ManagedProcess, free_port
from local_runner.template import TableSpec

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


@dataclass
class Database:
    kind: str
    endpoint_url: str
    stop: Callable[[], None]
    process: ManagedProcess | None = None


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


def start_dynamodb_local(data_dir: Path, port: int, region: str) -> Database:
    jars = jar_dir(data_dir).resolve()
    db_path = (data_dir / "dynamodb-data").resolve()
    db_path.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = ManagedProcess(
        "DynamoDB Local",
        [
            "java",
            f"-Djava.library.path={jars / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jars / "DynamoDBLocal.jar"),
            "-port",
            str(port),
            "-dbPath",
            str(db_path),
            "-sharedDb",
            "-disableTelemetry",
        ],
        data_dir / "logs" / "dynamodb-local.log",
    )
    endpoint = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: answers(endpoint, region), timeout=60)
    return Database("DynamoDB Local", endpoint, process.stop, process)


def start_moto_server(port: int) -> Database:
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return Database("moto (in memory, not kept)", f"http://127.0.0.1:{port}", server.stop)


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
