// how this is defined depends on the workflow lanugage used, but is effectively something like:

// configure list of containers
ecr_registry = "aws-account-id>.dkr.ecr..amazonaws.com"
containers = {
    "task1": ecr_registry + "/dockerhub/ubuntu:20.04",
    "task2": ecr_registry + "/gcr/broad-gatk/gatk:4.4.0.0",
    "task3": ecr_registry + "/ghcr/miniwdl-ext/miniwdl-aws:v0.9.0-1-g243f36f",
    "task4": ecr_registry + "/quay/biocontainers/bcftools:1.16--hfe4b78e_1",
    "task5": ecr_registry + "/ecr-public/docker/library/python:3.9.16-bullseye",
    "task6": ecr_registry + "/quay/biocontainers/bwa-mem2:2.2.1--he513fc3_0",
    "task7": ecr_registry + "/ecr-public/aws-genomics/google/deepvariant:1.4.0",
    "task8": ecr_registry + "/foo:omics",
    "task9": ecr_registry + "/bar:omics"
}

// use containers[task_name] in task definitions
task task1 {
    runtime {
        container: containers['task1']
    }
    ...
}
