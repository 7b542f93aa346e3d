"""The embedded sandbox: moto plus faithful extensions for what moto 5.2.5 lacks.

``install()`` patches moto in place (no fork): ECR pull-through cache rules,
repository creation templates, GetDownloadUrlForLayer with real blobs, a
HealthOmics backend, and CloudTrail LookupEvents. It is idempotent and works
for both ``moto.mock_aws`` (in-process) and ``ThreadedMotoServer``.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from auditor.sandbox import cloudtrail, ecr, omics

    cloudtrail.install()
    ecr.install()
    omics.install()
    _installed = True
