# rung: the facts-in-context test, as a service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# Run as an unprivileged user.
RUN groupadd --system --gid 10001 rung \
 && useradd --system --uid 10001 --gid rung --create-home --home-dir /home/rung rung \
 && mkdir -p /data \
 && chown rung:rung /data

WORKDIR /srv/rung

# Dependencies first (cached layer): exact versions, every file checked against its hash.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# Then the project itself, without resolving anything further.
COPY pyproject.toml README.md ./
COPY app/ app/
COPY fixtures/ fixtures/
RUN pip install --no-deps . \
 && rm -rf build ./*.egg-info

# litellm: never fetch the model cost map, no telemetry/hub calls at start-up.
ENV LITELLM_OFFLINE_MODE=true \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_MODE=PRODUCTION \
    HF_HUB_OFFLINE=1 \
    RUNG_DATABASE_URL=sqlite+aiosqlite:////data/rung.db

USER rung
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["rung", "serve", "--host", "0.0.0.0", "--port", "8000"]
