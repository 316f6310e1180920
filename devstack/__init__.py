"""The local stack: template.yaml run on this machine without Docker or an AWS account."""
