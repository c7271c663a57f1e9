# dcagent agent image. Plain on purpose: no Docker engine runs on the project's build machines, so this file is
# written to the Docker reference but not built in CI. The lab is never containerised.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    XDG_STATE_HOME=/var/lib/dcagent DCAGENT_LISTEN_HOST=0.0.0.0 DCAGENT_LISTEN_PORT=8080

# restic and rsync for the backup SOP, openssh-client for rsync over SSH, git for switch config backups,
# pango + DejaVu fonts for WeasyPrint's PDFs, curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends restic rsync openssh-client git curl \
      libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /var/lib/dcagent --shell /usr/sbin/nologin dcagent

WORKDIR /opt/dcagent
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY integrations ./integrations
COPY playbooks ./playbooks
COPY config ./config
RUN pip install .

USER dcagent
EXPOSE 8080
# Secrets arrive as files (DCAGENT_*_FILE, e.g. Docker/Kubernetes secrets), never baked into the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["dcagent", "serve"]
