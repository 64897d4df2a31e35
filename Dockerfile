# lamina on a CPU: the API server or a worker with the classic engine, the PostgreSQL and S3
# drivers included. Build: docker build -t lamina:cpu .   Run: see compose.yaml and
# docs/scale-out.md. (The qwen engine needs a CUDA base image and the [qwen] extra.)
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/lamina
# dependencies first, so a source change does not reinstall them
COPY pyproject.toml README.md ./
RUN mkdir -p src/lamina && touch src/lamina/__init__.py \
    && pip install '.[postgres,s3]' \
    && pip uninstall -y lamina \
    && rm -rf src
COPY src ./src
RUN pip install --no-deps . && rm -rf build src

# an unprivileged user owning only its data folder
RUN useradd --system --uid 10001 --create-home --home-dir /home/lamina lamina \
    && mkdir /data && chown lamina:lamina /data
USER lamina
WORKDIR /data
ENV LAMINA_HOST=0.0.0.0 \
    LAMINA_DATA_DIR=/data
VOLUME /data
EXPOSE 8000

# /healthz answers 200 once the database and the storage work (no key needed)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["lamina"]
CMD ["serve"]
