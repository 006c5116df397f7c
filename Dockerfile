FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/omniservice
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . \
    && python manage.py compilemessages --ignore '.venv/*' --verbosity 0 \
    && python manage.py collectstatic --no-input --verbosity 0 \
    && useradd --system --home /app omniservice \
    && mkdir -p /var/lib/omniservice && chown omniservice /var/lib/omniservice
USER omniservice
EXPOSE 8000
CMD ["gunicorn", "omniservice.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "gthread", "--threads", "4"]
