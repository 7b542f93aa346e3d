"""Built-in rules: one module per check. Importing this package registers them all.

``ORDER`` is the order people read them in: from the upstream registry down to
the workflow's own map, the order in which a pull goes through the pieces.
"""

from auditor.rules import (
    creation_template,
    image_architecture,
    ptc_change_during_run,
    ptc_rule_coverage,
    registry_map,
    registry_policy,
    repository_policy,
    service_role,
)

ORDER = (
    ptc_rule_coverage.RULE_ID,
    registry_policy.RULE_ID,
    creation_template.RULE_ID,
    repository_policy.RULE_ID,
    service_role.RULE_ID,
    image_architecture.RULE_ID,
    ptc_change_during_run.RULE_ID,
    registry_map.RULE_ID,
)
