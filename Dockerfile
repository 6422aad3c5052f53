# The service on a slim Python 3.11, as a non-root user; `docker build -t chatgate .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=5000 \
    DB_PATH=/data/sessions.sqlite3

WORKDIR /app

# Dependencies in their own layer: a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

RUN useradd --create-home --uid 10001 app \
    && mkdir /data \
    && chown app /data
USER 10001
VOLUME ["/data"]

EXPOSE 5000
# No curl in the image: Python asks the liveness endpoint on the port the service was given.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '5000')}/health/live\", timeout=4)"]

# The seed's command, from the copied checkout: gunicorn.conf.py hands on chatgate's gunicorn settings (the port
# from $PORT, the workers from WEB_CONCURRENCY, the gevent worker class), as `chatgate serve` does once installed.
CMD ["gunicorn", "main:app"]
