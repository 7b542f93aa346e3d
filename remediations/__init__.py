"""Fixers: one module per rule. Importing this package registers them all (see ``auditor.fix``).

Each module declares, next to its code, the IAM actions it needs (``@fixer(permissions=...)``
for planning and applying, ``StateKind.permissions`` for reading and restoring its documents).
"""

from auditor.remediations import (
    creation_template,
    cross_account_source,
    image_architecture,
    ptc_change_during_run,
    ptc_rule,
    registry_map,
    registry_policy,
    repository_policy,
    service_role,
    service_role_trust,
    workflow_images,
)

__all__ = [
    "creation_template",
    "cross_account_source",
    "image_architecture",
    "ptc_change_during_run",
    "ptc_rule",
    "registry_map",
    "registry_policy",
    "repository_policy",
    "service_role",
    "service_role_trust",
    "workflow_images",
]
