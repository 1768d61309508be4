"""S3 access for trainers (boto3), configured by the contract's environment:

    MLO_S3_ENDPOINT        http(s)://host:port of any S3 API, path-style addressing (unset: AWS S3,
                           virtual-hosted addressing)
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) when the worker has static keys;
    otherwise boto3's default credential chain, from the variables the worker passes on (AWS_PROFILE,
    AWS_CONFIG_FILE, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, container credentials...), the same
    identity as the worker. AWS_EC2_METADATA_DISABLED=true keeps it off the instance-metadata address.
    AWS_DEFAULT_REGION / AWS_REGION (unset: the profile's region, else boto3's default)

Every write is a single PUT of complete bytes, so a reader never sees half an object.
Failures are classified for the exit code: connection errors, timeouts, 5xx and throttling
are Transient (75); a missing object, a missing bucket or rejected credentials are BadInput (2).
"""
from __future__ import annotations

import os
import re
from typing import Any

from .errors import BadInput, Transient

_URI = re.compile(r"^s3://([^/]+)/(.*)$")
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "503",
    "500",
    "502",
    "504",
}
_CREDENTIAL_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def parse_uri(uri: str) -> tuple[str, str]:
    m = _URI.match(uri)
    if not m or not m.group(1):
        raise BadInput(f'not an S3 URI: "{uri}" (expected s3://<bucket>/<key>)')
    return m.group(1), m.group(2)


def endpoint() -> str | None:
    return os.environ.get("MLO_S3_ENDPOINT") or None


class S3:
    def __init__(self) -> None:
        import boto3
        from botocore.config import Config

        ep = endpoint()
        if ep is not None and not re.match(r"^https?://[^/\s]+", ep):
            raise BadInput(f"MLO_S3_ENDPOINT must be an http(s) URL, e.g. http://127.0.0.1:7070, got {ep!r}")
        # No static keys in the environment: boto3 resolves them through its default chain.
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=ep,
            region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None,
            config=Config(
                s3={"addressing_style": "path" if ep is not None else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=120,
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _fail(self, err: Exception, op: str, uri: str, what: str) -> Exception:
        import botocore.exceptions as bx

        where = f"S3 at {endpoint() or 'AWS'}"
        if isinstance(err, bx.NoCredentialsError):
            return BadInput(f"{op} {uri}: no S3 credentials: neither static keys (AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY) nor any source of the AWS default credential chain (AWS_PROFILE, "
                            "web identity, container or instance role); configure the worker's S3 credentials")
        unreachable = (
            bx.EndpointConnectionError,
            bx.ConnectionError,
            bx.HTTPClientError,
            bx.ConnectTimeoutError,
            bx.ReadTimeoutError,
        )
        if isinstance(err, unreachable):
            return Transient(f"{op} {uri}: {where} is unreachable ({err}); "
                             "check MLO_S3_ENDPOINT and that the S3 service is up")
        if isinstance(err, bx.ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _MISSING_CODES or status == 404:
                return BadInput(f"{op} {uri}: {what} does not exist")
            if code == "NoSuchBucket":
                return BadInput(f"{op} {uri}: bucket does not exist at {where}")
            if code in _CREDENTIAL_CODES or status == 403:
                return BadInput(f"{op} {uri}: {where} refused the credentials ({code}); "
                                "check the worker's S3 credentials (static keys or its AWS role)")
            if code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500) or status == 429:
                return Transient(f"{op} {uri}: {where} answered {status} {code}; retry later")
            return BadInput(f"{op} {uri}: {where} answered {status} {code}: {err}")
        if isinstance(err, bx.BotoCoreError):
            return Transient(f"{op} {uri}: {where}: {err}")
        return err

    def get_bytes(self, uri: str, what: str = "the object") -> bytes:
        bucket, key = parse_uri(uri)
        try:
            out = self._client.get_object(Bucket=bucket, Key=key)
            return out["Body"].read()
        except Exception as e:  # noqa: BLE001 - classified below
            raise self._fail(e, "reading", uri, what) from e

    def get_with_metadata(self, uri: str, what: str = "the object") -> tuple[bytes, dict[str, str]]:
        """The object's bytes and its user metadata (`x-amz-meta-*`, keys lower-case)."""
        bucket, key = parse_uri(uri)
        try:
            out = self._client.get_object(Bucket=bucket, Key=key)
            return out["Body"].read(), {k.lower(): v for k, v in (out.get("Metadata") or {}).items()}
        except Exception as e:  # noqa: BLE001 - classified below
            raise self._fail(e, "reading", uri, what) from e

    def put_bytes(
        self,
        uri: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        bucket, key = parse_uri(uri)
        try:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": content_type}
            if metadata:
                kwargs["Metadata"] = metadata
            self._client.put_object(**kwargs)
        except Exception as e:  # noqa: BLE001
            raise self._fail(e, "writing", uri, "the destination") from e
