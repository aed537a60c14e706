# The project image for the ECS tasks: one image, every stage.
#   docker build -t diab-readmit-pipeline .
#   docker run --rm diab-readmit-pipeline --pipelines xgboost --env aws
# The entrypoint is `kedro run`, so the ECS command override (deploy/ecs/stage_commands.json)
# picks the stage; without a command the image prints `kedro run --help` and touches nothing.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KEDRO_DISABLE_TELEMETRY=true

WORKDIR /app

# Dependencies first and only from the lock, so this layer is rebuilt only when the lock
# changes and the image has exactly the versions the tests ran with.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Then the project itself, without letting pip resolve anything again.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps .

COPY conf ./conf

# Never root: the tasks need no more than read access to /app and a writable home
# (matplotlib's cache). S3 credentials come from the ECS task role, never from the image.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin kedro \
    && mkdir -p conf/local
USER kedro

ENTRYPOINT ["kedro", "run"]
CMD ["--help"]
