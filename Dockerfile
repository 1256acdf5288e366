# syntax=docker/dockerfile:1
# Build: install Flywheel and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY cogs ./cogs
COPY bench ./bench
COPY migrations ./migrations
RUN /venv/bin/pip install -e .

# Run: the virtualenv and the source, as an unprivileged user.
FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 FLYWHEEL_CONFIG=/config/bot.toml
RUN useradd --create-home --uid 10001 flywheel && mkdir -p /data /config && chown flywheel /data
COPY --from=build /venv /venv
COPY --from=build /app /app
WORKDIR /data
USER flywheel
EXPOSE 8080
# Mount bot.toml at /config/bot.toml (with [web] host = "0.0.0.0") and pass secrets as env.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import json, urllib.request; json.load(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4))" || exit 1
CMD ["sh", "-c", "flywheel migrate && exec flywheel run"]
