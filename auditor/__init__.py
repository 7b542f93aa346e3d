"""omics-ecr-audit: compliance auditor and remediator for AWS HealthOmics container access."""

__version__ = "0.1.0"
