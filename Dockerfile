# One image for every process kind: migrate, api, worker, relay.

# Stage 1 builds the wheel: the service with its SQL inside (sql/ ships as app/_sql).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY sql ./sql
RUN pip wheel --no-deps --wheel-dir /wheels .

# Stage 2 installs that wheel and nothing of the checkout. The embedded Postgres extra is
# left out: containers use the compose Postgres, and pgserver has no linux/arm64 wheel.
FROM python:3.11-slim
# The user's uid and gid: docker-compose.yml passes APP_UID/APP_GID (default 1000), the
# owner of the bind-mounted ./logs, so every process can write its log file there.
ARG APP_UID=1000
ARG APP_GID=1000
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_DIR=/srv/assistente/logs

COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

WORKDIR /srv/assistente
# A host gid may already name a group in the image (macOS's 20 is Debian's dialout).
RUN (getent group "$APP_GID" >/dev/null || groupadd --gid "$APP_GID" assistente) \
    && useradd --uid "$APP_UID" --gid "$APP_GID" --non-unique --no-create-home \
        --home-dir /srv/assistente --shell /usr/sbin/nologin assistente \
    && mkdir -p logs artifacts \
    && chown "$APP_UID:$APP_GID" . logs artifacts
USER ${APP_UID}:${APP_GID}

EXPOSE 8000
CMD ["assistente", "api", "--host", "0.0.0.0", "--port", "8000"]
