"""AWS credentials and region, checked once before a command talks to AWS, and every failure said in one line.

A person who types ``omics-ecr-audit scan`` without credentials, with a profile that does not exist,
with an expired SSO session or without a region gets one line on stderr saying what to do (the option,
the environment variable, the ``aws`` command) and exit code 2: never a page of identical ERROR findings,
never a silently chosen region, never a traceback.

* :func:`open_session` makes the ``boto3.Session`` of a profile and resolves its credentials at once
  (an SSO profile fetches its role credentials, an assume-role profile assumes its role), so a missing or
  expired credential is found before the first call and not as an ERROR finding in every cell.
  ``auditor.commands.common.session_of`` opens every session of the command line through it.
* :func:`describe` turns what botocore raises about credentials, profiles, regions and endpoints (also a
  ``ClientError`` whose code says the credentials were rejected) into that one line; ``auditor.cli.main``
  applies it to whatever escapes a command, so the commands that open their own sessions are covered too.
* :func:`region_choice` says which region a command falls back to, and from where (the line the scan prints).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import boto3
import botocore.exceptions

from auditor.errors import AuditError, ExitCode
from auditor.terminal import printable

# Error codes by which AWS says the credentials themselves are bad (not a missing permission).
REJECTED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})
_SKEW_CODES = frozenset({"RequestExpired", "RequestTimeTooSkewed", "InvalidSignatureException"})


class CredentialsError(AuditError):
    """No usable credentials, profile or region: one line saying what to do, exit code 2."""

    exit_code = ExitCode.USAGE


def profile_in_use(profile: str | None) -> str | None:
    """The profile botocore will use: ``--profile``/config, else AWS_PROFILE, else AWS_DEFAULT_PROFILE."""
    return profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or None


def _login(profile: str | None) -> str:
    named = profile_in_use(profile)
    return f"aws sso login --profile {named}" if named else "aws sso login --profile NAME"


def _config_file() -> str:
    return os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"


def _one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return printable(flat if len(flat) <= limit else flat[: limit - 1] + "…")


NO_CREDENTIALS = (
    "no AWS credentials found: pass --profile NAME (a profile of ~/.aws/config), run `aws configure` "
    "or `aws sso login --profile NAME`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


def no_region(profile: str | None = None) -> str:
    named = profile_in_use(profile)
    where = f"`aws configure set region REGION --profile {named}`" if named else "`aws configure set region REGION`"
    return (
        "no AWS region: pass --region REGION (e.g. --region us-east-1; scan and fix take --regions a,b), "
        f"set AWS_DEFAULT_REGION, add `regions:` to the configuration, or set the profile's region with {where}"
    )


def describe(exc: BaseException, profile: str | None = None) -> str | None:
    """One line saying what went wrong with credentials, profile, region or endpoint, and what to do; None
    when ``exc`` is about something else (a denied permission, a throttled call...)."""
    e = botocore.exceptions
    named = profile_in_use(profile)
    if isinstance(exc, e.ProfileNotFound):
        missing = exc.kwargs.get("profile") or named
        source = " (from AWS_PROFILE)" if not profile and os.environ.get("AWS_PROFILE") == missing else ""
        return (
            f"AWS profile {missing!r}{source} is not in {_config_file()}: "
            "check the name (`aws configure list-profiles`), "
            f"or create it (`aws configure --profile {missing}` or `aws configure sso --profile {missing}`)"
        )
    if isinstance(exc, e.NoCredentialsError):
        if named:
            return (
                f"AWS profile {named!r} has no credentials: run `aws configure --profile {named}` "
                f"(or `aws sso login --profile {named}` for an SSO profile), or pass another --profile"
            )
        return NO_CREDENTIALS
    if isinstance(exc, e.PartialCredentialsError):
        return (
            f"incomplete AWS credentials in {exc.kwargs.get('provider', 'the environment')}: "
            f"{exc.kwargs.get('cred_var', 'a value')} is missing; set it, or unset the others and pass --profile NAME"
        )
    if isinstance(exc, e.SSOError) or (
        isinstance(exc, e.TokenRetrievalError) and "sso" in str(exc.kwargs.get("provider", "")).lower()
    ):
        who = f"of profile {named!r} " if named else ""
        return f"the AWS SSO session {who}has expired or was never started: run `{_login(profile)}`, then retry"
    if isinstance(exc, e.RefreshWithMFAUnsupportedError):
        return f"AWS profile {named!r} needs an MFA code to refresh its role: run the command again to be asked"
    if isinstance(exc, e.CredentialRetrievalError | e.TokenRetrievalError):
        provider = exc.kwargs.get("provider", "the credential provider")
        return (
            f"cannot get AWS credentials from {provider}: {_one_line(exc.kwargs.get('error_msg', exc))}; "
            f"check the profile (`aws configure list --profile {named or 'NAME'}`) or pass another --profile"
        )
    if isinstance(exc, e.NoRegionError):
        return no_region(profile)
    if isinstance(exc, e.InvalidRegionError):
        return f"{exc.kwargs.get('region_name')!r} is not an AWS region name: pass --region REGION (e.g. us-east-1)"
    if isinstance(exc, e.ConfigParseError):
        return f"cannot parse the AWS config file {exc.kwargs.get('path')}: fix it, or point AWS_CONFIG_FILE elsewhere"
    if isinstance(exc, e.EndpointConnectionError | e.ConnectTimeoutError):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}: check the network or proxy "
            "(HTTPS_PROXY), and --endpoint-url if you gave one (is the sandbox running?)"
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return describe_code(str(error.get("Code", "")), str(error.get("Message", "")), profile)
    return None


def describe_code(code: str, message: str, profile: str | None = None) -> str | None:
    """One line for an AWS error code that says the credentials (or the clock) were rejected; None otherwise."""
    message = _one_line(message, 160)
    if code in _EXPIRED_CODES:
        return (
            f"the AWS credentials have expired ({code}): refresh them (`{_login(profile)}` for an SSO profile, "
            "a new session token otherwise), or pass another --profile"
        )
    if code in REJECTED_CODES:
        return (
            f"AWS rejected the credentials ({code}: {message}): they are wrong, revoked or for another partition; "
            "pass another --profile, or run `aws configure` (or `aws sso login`) again"
        )
    if code in _SKEW_CODES:
        return f"AWS rejected the request's time ({code}): set this machine's clock right (NTP), then retry"
    return None


def rejected_everywhere(errors: list[tuple[str, str] | None]) -> tuple[str, str] | None:
    """The (code, message) when every cell of a scan failed because AWS rejected the credentials, else None.

    A scan of the caller's own account whose every cell was refused at its first call has nothing to report
    but that: one line and exit 2, not an ERROR finding per rule and region."""
    if not errors or any(e is None or e[0] not in REJECTED_CODES | _SKEW_CODES for e in errors):
        return None
    return errors[0]


def open_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A session for ``profile`` (None: the default chain) whose credentials have been resolved.

    Raises :class:`CredentialsError` (one line, exit 2) when the profile does not exist, no credentials
    can be found, or the profile's SSO session or role cannot produce them.
    """
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        credentials = session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        credentials.get_frozen_credentials()  # an SSO or assume-role profile fetches its credentials now
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise CredentialsError(describe(exc, profile) or f"AWS credentials: {_one_line(exc)}") from None
    return session


@dataclass(frozen=True)
class RegionChoice:
    region: str
    source: str  # where it came from, as the line printed says it


def region_choice(session: boto3.Session, profile: str | None = None) -> RegionChoice:
    """The session's own region and where it comes from; :class:`CredentialsError` when there is none."""
    region = session.region_name
    if not region:
        raise CredentialsError(no_region(profile))
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable) == region:
            return RegionChoice(region, variable)
    named = profile_in_use(profile)
    return RegionChoice(region, f"profile {named}" if named else "the AWS config file")
