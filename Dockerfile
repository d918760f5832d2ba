FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge bridge
COPY channels channels
COPY routing routing
COPY storage storage
COPY config config
COPY web web
COPY runtime runtime
RUN pip install --no-cache-dir . && useradd --create-home bridge
USER bridge
EXPOSE 8080
CMD ["bridge", "serve"]
