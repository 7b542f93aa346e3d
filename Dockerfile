# omics-ecr-audit in a container: `docker run --rm -v "$PWD:/work" IMAGE gate workflows/rnaseq --offline ...`
# (docs/ci.md). Two stages: the build stage installs the package into a virtualenv, the runtime stage copies only
# that virtualenv and runs as an unprivileged user.
#
# Base image: python:3.11-slim (Debian trixie, Python 3.11.15), pinned by the digest of its multi-arch index as
# docker-library/repo-info records it (repos/python/remote/3.11-slim.md at commit
# 2477d553d2fdfa57b4ec11f63c8376eca8b7a253; the index's linux/amd64 image is
# sha256:78b39ef14d8e2b4d71f8dc304f1328c37df95fe0ef99477c2ae6bd3d03784553). Check it before a release with
# `docker buildx imagetools inspect python:3.11-slim` and update both stages together.

FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY auditor ./auditor
COPY rules ./rules
COPY remediations ./remediations
# constraints.txt holds the exact versions the test suite last passed with
RUN python -m venv /opt/omics-ecr-audit \
    && /opt/omics-ecr-audit/bin/pip install --no-compile -c constraints.txt . \
    && /opt/omics-ecr-audit/bin/omics-ecr-audit --version

FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
LABEL org.opencontainers.image.title="omics-ecr-audit" \
      org.opencontainers.image.description="Auditor, remediator and CI gate for AWS HealthOmics container access" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 audit \
    && useradd --system --uid 10001 --gid audit --home-dir /var/lib/omics-ecr-audit --create-home --shell /usr/sbin/nologin audit
COPY --from=build /opt/omics-ecr-audit /opt/omics-ecr-audit
ENV PATH=/opt/omics-ecr-audit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["omics-ecr-audit"]
CMD ["--help"]
