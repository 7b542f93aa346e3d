"""Fixers: one module per rule. Importing this package registers them all (see ``auditor.fix``).

Each module declares, next to its code, the IAM actions it needs (``@fixer(permissions=...)``
for planning and applying, ``StateKind.permissions`` for reading and restoring its documents).
"""

from auditor.remediations import (
    cloudtrail_trail,
    creation_template,
    cross_account_source,
    ecr_scanning,
    grants_scoped,
    image_architecture,
    image_runnable,
    image_vulnerabilities,
    lifecycle_keeps_used,
    pinned_by_digest,
    ptc_change_during_run,
    ptc_rule,
    registry_map,
    registry_policy,
    repository_policy,
    service_role,
    service_role_trust,
    template_role,
    workflow_images,
)

__all__ = [
    "cloudtrail_trail",
    "creation_template",
    "cross_account_source",
    "ecr_scanning",
    "grants_scoped",
    "image_architecture",
    "image_runnable",
    "image_vulnerabilities",
    "lifecycle_keeps_used",
    "pinned_by_digest",
    "ptc_change_during_run",
    "ptc_rule",
    "registry_map",
    "registry_policy",
    "repository_policy",
    "service_role",
    "service_role_trust",
    "template_role",
    "workflow_images",
]
