"""Pre-signed S3 GET URLs the sandbox hands out (ECR layer downloads, exported workflow definitions).

AWS answers both with a SigV4 query-string URL to S3; the sandbox stores the bytes in moto's S3 and signs a
URL the same way. In-process (``mock_aws``) the URL is the real S3 host, which moto intercepts; behind the
sandbox server it points at the server itself (``S3_ENDPOINT_ENV``, or the host the request came to).
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import quote

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

S3_ENDPOINT_ENV = "OMICS_AUDIT_SANDBOX_S3_ENDPOINT"
PRESIGNED_URL_EXPIRY_SECONDS = 3600


_STORE_LOCK = threading.Lock()


def store_object(account_id: str, region: str, bucket: str, key: str, data: bytes) -> None:
    """Put ``data`` at ``bucket/key`` in moto's S3 (bucket created on demand) unless it is already there.

    Keys are content addressed, so an object of the right size is already these bytes. One writer at a
    time: two threads asking for the same object could both see it missing and put it twice, and the second
    put replaces the object while the first one's URL is being read.
    """
    s3 = s3_backends[account_id][get_partition(region)]
    with _STORE_LOCK:
        if bucket not in s3.buckets:
            s3.create_bucket(bucket, region)
        existing = s3.buckets[bucket].keys.get(key)
        if existing is None or existing.size != len(data):
            s3.put_object(bucket, key, data)


def presigned_get_url(bucket: str, key: str, region: str, endpoint: str | None, *, signer: str) -> str:
    """A SigV4 query-string GET URL for ``bucket/key``; ``signer`` names the fake key it is signed with."""
    if endpoint:
        url = f"{endpoint.rstrip('/')}/{bucket}/{quote(key, safe='/')}"
    else:
        url = f"https://{bucket}.s3.{region}.amazonaws.com/{quote(key, safe='/')}"
    request = AWSRequest(method="GET", url=url)
    # Any credentials do: moto does not verify S3 signatures; the URL is still a well-formed SigV4 presign.
    auth = S3SigV4QueryAuth(Credentials(signer, "sandbox-signing"), "s3", region, PRESIGNED_URL_EXPIRY_SECONDS)
    auth.add_auth(request)
    return str(request.url)


def is_aws_host(host: str) -> bool:
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def s3_endpoint_for(response: Any) -> str | None:
    """Where a URL must point for this request (a moto response object); None means the real S3 endpoint."""
    configured = os.environ.get(S3_ENDPOINT_ENV)
    if configured:
        return configured
    parsed = response.parsed_url
    if parsed.hostname and not is_aws_host(parsed.hostname):
        return f"{parsed.scheme}://{parsed.netloc}"
    return None
