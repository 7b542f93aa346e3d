{
    "cwlVersion": "v1.2",
    "$graph": [
        {
            "class": "Workflow",
            "id": "#main",
            "requirements": [
                {"class": "DockerRequirement", "dockerPull": "quay.io/biocontainers/coreutils:9.4"}
            ],
            "inputs": [],
            "outputs": [],
            "steps": [
                {"id": "#main/align", "run": "#bwa.cwl", "in": [], "out": []},
                {"id": "#main/sort", "run": "#sort.cwl", "in": [], "out": []}
            ]
        },
        {
            "class": "CommandLineTool",
            "id": "#bwa.cwl",
            "requirements": [
                {"class": "DockerRequirement", "dockerPull": "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"}
            ],
            "inputs": [],
            "outputs": []
        },
        {
            "class": "CommandLineTool",
            "id": "#sort.cwl",
            "hints": {
                "DockerRequirement": {
                    "dockerPull": "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"
                }
            },
            "inputs": [],
            "outputs": []
        }
    ]
}
