version 1.0

workflow GenomicsWorkflow {
    input {
        File input_bam
        String sample_name
    }

    call SamtoolsSort {
        input:
            input_bam = input_bam,
            sample_name = sample_name
    }

    call GatkHaplotypeCaller {
        input:
            sorted_bam = SamtoolsSort.sorted_bam,
            sample_name = sample_name
    }

    output {
        File vcf_file = GatkHaplotypeCaller.vcf
    }
}

task SamtoolsSort {
    input {
        File input_bam
        String sample_name
    }

    command <<<
        samtools sort ~{input_bam} -o ~{sample_name}.sorted.bam
    >>>

    runtime {
        docker: "quay.io/biocontainers/samtools:1.17--h00cdaf9_0"
        memory: "4 GB"
        cpu: 2
    }

    output {
        File sorted_bam = "~{sample_name}.sorted.bam"
    }
}

task GatkHaplotypeCaller {
    input {
        File sorted_bam
        String sample_name
    }

    command <<<
        gatk HaplotypeCaller \
            -I ~{sorted_bam} \
            -O ~{sample_name}.vcf \
            -R /opt/broad/references/hg38/v0/Homo_sapiens_assembly38.fasta
    >>>

    runtime {
        docker: "broadinstitute/gatk:4.6.0.2"
        memory: "8 GB"
        cpu: 4
    }

    output {
        File vcf = "~{sample_name}.vcf"
    }
}
