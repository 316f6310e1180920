"""template.yaml as CloudFormation: `sam_translate.py TEMPLATE [PARAMETERS_JSON]` prints the
template aws-sam-translator makes of it, offline. Run it with the SAM CLI's venv
(.venv-tools/bin/python): tests/unit/test_translated_template.py asserts on its output and
`make scan` runs checkov on it."""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# What `sam deploy` would look up in IAM: the managed policies SAM's own templates use.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, name in [
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("", "AWSXrayWriteOnlyAccess"),
        ("service-role/", "AWSLambdaDynamoDBExecutionRole"),
        ("service-role/", "AWSLambdaSQSQueueExecutionRole"),
    ]
}


class ManagedPolicies:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def translate(path: str, parameters: dict[str, str]) -> dict:
    """The CloudFormation template SAM makes of this one, as after `sam package`."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    with open(path) as file:
        template = yaml_parse(file.read())
    for resource in template["Resources"].values():  # `sam package` puts S3 URIs in their place
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    return transform(template, parameters, ManagedPolicies())


if __name__ == "__main__":
    print(json.dumps(translate(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}), indent=1))
