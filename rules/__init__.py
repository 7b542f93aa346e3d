"""Built-in rules: one module per check. Importing this package registers them all.

``ORDER`` is the order people read them in: from the upstream registry down to
the workflow's own map, the order in which a pull goes through the pieces.
"""

from auditor.rules import (
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
    ptc_rule_coverage,
    registry_map,
    registry_policy,
    repository_policy,
    service_role,
    service_role_trust,
    template_role,
    workflow_images,
)

ORDER = (
    workflow_images.RULE_ID,
    ptc_rule_coverage.RULE_ID,
    registry_policy.RULE_ID,
    creation_template.RULE_ID,
    template_role.RULE_ID,
    repository_policy.RULE_ID,
    service_role_trust.RULE_ID,
    service_role.RULE_ID,
    cross_account_source.RULE_ID,
    image_architecture.RULE_ID,
    image_runnable.RULE_ID,
    ptc_change_during_run.RULE_ID,
    cloudtrail_trail.RULE_ID,
    registry_map.RULE_ID,
    ecr_scanning.RULE_ID,
    image_vulnerabilities.RULE_ID,
    lifecycle_keeps_used.RULE_ID,
    pinned_by_digest.RULE_ID,
    grants_scoped.RULE_ID,
)
