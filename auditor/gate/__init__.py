"""The CI gate: read a workflow's own definition, resolve every container as HealthOmics would, check it would run."""
