"""Infrastructure of the exchange as an AWS CDK app (CloudFormation).

``python -m infra.app`` (or ``cdk synth`` with ``infra/cdk.json``) builds one set of
stacks per stage; ``infra.chalice_config`` turns their outputs into the Chalice stage
config; ``infra.publish_web`` uploads the web app.  See docs/deploy.md.
"""
import os

# jsii runs aws-cdk-lib in a node child process; node 20 is what CI has.  The warning
# is about support status, not behaviour: keep the test output readable.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
