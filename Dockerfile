# syntax=docker/dockerfile:1
# imagebot service image: `imagebot run` with the config at $IMAGEBOT_CONFIG.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY imagebot ./imagebot
# with the PostgreSQL store's client (state.url: several replicas, deploy/ha)
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgresql]"

FROM python:3.11-slim-bookworm
# docker-registry: only for `docker run IMAGE demo` (the demo's local registry, loopback only).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client gnupg ca-certificates \
        docker-registry \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 imagebot \
    && useradd --system --uid 10001 --gid imagebot --home-dir /var/lib/imagebot \
        --create-home --shell /usr/sbin/nologin imagebot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

ENV IMAGEBOT_CONFIG=/etc/imagebot/config.yaml \
    IMAGEBOT_STATE_DIR=/var/lib/imagebot \
    HOME=/var/lib/imagebot \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/imagebot
VOLUME ["/var/lib/imagebot"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["imagebot"]
CMD ["run"]
