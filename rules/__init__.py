"""Built-in rules: one module per check. Importing this package registers them all."""

from rules import (  # noqa: F401
    creation_template,
    image_architecture,
    ptc_change_during_run,
    ptc_rule_coverage,
    registry_map,
    registry_policy,
    repository_policy,
    service_role,
)
