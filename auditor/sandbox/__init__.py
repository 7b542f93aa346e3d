"""The embedded sandbox: moto plus faithful extensions for what moto 5.2.5 lacks.

``install()`` patches moto in place (no fork): ECR pull-through cache rules,
repository creation templates, GetDownloadUrlForLayer with real blobs, a
HealthOmics backend, and CloudTrail LookupEvents over the management events the
mutating ECR and IAM calls record (``cloudtrail.recorded``). It is idempotent and works
for both ``moto.mock_aws`` (in-process) and ``ThreadedMotoServer``.
"""

from __future__ import annotations

_installed = False

# moto is the optional `sandbox` extra: production installs do not carry it.
INSTALL_HINT = "pip install 'omics-ecr-audit[sandbox]'"


def missing_extra(exc: ImportError) -> str | None:
    """The third-party module an ImportError says is missing (the extra to install), None for our own modules."""
    name = exc.name or ""
    if name.startswith("auditor"):
        return None
    return name.split(".")[0] or "moto"


def install() -> None:
    global _installed
    if _installed:
        return
    from auditor.sandbox import cloudtrail, ecr, iam, omics, trails

    cloudtrail.install()
    ecr.install()
    iam.install()
    omics.install()
    trails.install()
    _installed = True
