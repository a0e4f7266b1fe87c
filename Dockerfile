# One image for every process kind: migrate, api, worker, relay.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOG_DIR=/srv/assistente/logs

WORKDIR /srv/assistente
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY sql ./sql
# Editable install keeps sql/ beside the package, where the query loader finds it.
RUN pip install -e . && useradd --system --home /srv/assistente assistente \
    && mkdir -p logs artifacts && chown assistente logs artifacts
USER assistente

EXPOSE 8000
CMD ["assistente", "api", "--host", "0.0.0.0", "--port", "8000"]
