"""A job on AWS (EC2, ECS, EKS, Lambda, CodeBuild) reaching Azure with its AWS identity, no secret.

IAM outbound identity federation lets the job's role ask STS for a JWT (``GetWebIdentityToken``);
an app registration's federated identity credential trusts the account's issuer
(``https://<id>.tokens.sts.global.api.aws``) for the role ARN as subject. botocore finds the role's
credentials and region as usual.

    pip install 'azure-wif-credential[aws]'
    AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AWS_REGION=us-east-1 python deploy.py
    python deploy.py --sandbox      # offline: the sandbox plays Entra and AWS STS
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import jwt

from azure_wif_credential import FederatedTokenCredential
from azure_wif_credential.assertions import AwsWebIdentityAssertion

ARM = "https://management.azure.com/.default"


def describe(token: str) -> str:
    """What a token says about itself; never print the token."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return f"aud={claims.get('aud')} sub={claims.get('sub')} expires in {claims['exp'] - time.time():.0f} s"


def run(**options: Any) -> None:
    source = AwsWebIdentityAssertion()
    with FederatedTokenCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], assertion=source, **options
    ) as credential:
        print(f"the AWS token's subject: {jwt.decode(source(), options={'verify_signature': False})['sub']}")
        print(f"token for {ARM}: {describe(credential.get_token(ARM).token)}")


def run_in_sandbox() -> None:
    from azure_wif_credential.sandbox import Sandbox

    with Sandbox() as sandbox:
        os.environ.update(sandbox.aws_env("deploy"))  # dummy AWS keys; botocore's STS calls go to the sandbox
        app = sandbox.register_app(subject=sandbox.aws_role_arn("deploy"), issuer=sandbox.aws_issuer)
        os.environ.update(AZURE_TENANT_ID=app.tenant_id, AZURE_CLIENT_ID=app.client_id)
        run(authority=sandbox.authority, connection_verify=sandbox.ca_file)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sandbox", action="store_true", help="run offline against the local sandbox")
    if parser.parse_args().sandbox:
        run_in_sandbox()
    else:
        run()


if __name__ == "__main__":
    main()
