#!/usr/bin/env python3
"""Create the Tenantry DynamoDB table in a local moto server from infra/template.yaml.

Usage: create_table.py TABLE_NAME

The table definition is read from `Resources.Table.Properties` of the SAM
template, so the tests always run against the same keys, indexes, stream and
TTL settings that get deployed (one source of truth). The endpoint comes from
AWS_ENDPOINT_URL (set by scripts/env.sh). Idempotent: an existing table is
left in place and only waited on / configured.
"""

from __future__ import annotations

import copy
import os
import pathlib
import sys
import time

import boto3
import yaml
from botocore.exceptions import ClientError, ParamValidationError

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"

# CloudFormation-only properties that CreateTable does not take (or that moto
# rejects). TTL and point-in-time recovery are applied by separate calls below.
CFN_ONLY_PROPERTIES = {
    "TableName",
    "TimeToLiveSpecification",
    "PointInTimeRecoverySpecification",
    "ContributorInsightsSpecification",
    "KinesisStreamSpecification",
    "ImportSourceSpecification",
    "ResourcePolicy",
}
CFN_ONLY_INDEX_PROPERTIES = {"ContributorInsightsSpecification"}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that tolerates CloudFormation short-form tags (!Sub, !Ref, ...)."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return f"<!{tag_suffix} {value!r}>"


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_table_properties(template: pathlib.Path = TEMPLATE) -> dict:
    with template.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    try:
        resource = doc["Resources"]["Table"]
    except (KeyError, TypeError):
        sys.exit(f"create_table: {template} has no Resources.Table")
    if resource.get("Type") != "AWS::DynamoDB::Table":
        sys.exit(f"create_table: Resources.Table in {template} is not an AWS::DynamoDB::Table")
    return resource.get("Properties") or {}


def create_table_request(props: dict, table_name: str) -> dict:
    req = {k: copy.deepcopy(v) for k, v in props.items() if k not in CFN_ONLY_PROPERTIES}
    req["TableName"] = table_name
    for gsi in req.get("GlobalSecondaryIndexes", []):
        for key in CFN_ONLY_INDEX_PROPERTIES:
            gsi.pop(key, None)
    stream = req.get("StreamSpecification")
    if stream is not None:
        # CloudFormation implies StreamEnabled by the presence of a view type.
        stream.setdefault("StreamEnabled", True)
    return req


def wait_active(client, table_name: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=table_name)["Table"]
        indexes_ready = all(
            gsi.get("IndexStatus", "ACTIVE") == "ACTIVE"
            for gsi in table.get("GlobalSecondaryIndexes", [])
        )
        if table["TableStatus"] == "ACTIVE" and indexes_ready:
            return table
        if time.monotonic() > deadline:
            sys.exit(f"create_table: {table_name} not ACTIVE after {timeout:.0f}s")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1]:
        print(f"usage: {argv[0]} TABLE_NAME", file=sys.stderr)
        return 2
    table_name = argv[1]
    if not os.environ.get("AWS_ENDPOINT_URL"):
        print("create_table: AWS_ENDPOINT_URL is not set (source scripts/env.sh)", file=sys.stderr)
        return 2

    props = load_table_properties()
    client = boto3.client(
        "dynamodb",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )

    request = create_table_request(props, table_name)
    created = True
    try:
        try:
            client.create_table(**request)
        except (ParamValidationError, ClientError) as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code")
            if code == "ResourceInUseException" or "DeletionProtectionEnabled" not in request:
                raise
            request.pop("DeletionProtectionEnabled")
            client.create_table(**request)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        created = False

    wait_active(client, table_name)

    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )

    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled"):
        try:
            client.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except ClientError as err:  # cosmetic locally; never fail the test run on it
            print(f"create_table: skipping point-in-time recovery: {err}", file=sys.stderr)

    print(f"create_table: {table_name} {'created' if created else 'already exists'} and ACTIVE")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
