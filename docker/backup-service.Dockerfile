# syntax=docker/dockerfile:1
# backup-service (API and workers: one image, the role chosen at start) and the vbsctl operator
# tool. Build from the repository root:
#   docker build -f docker/backup-service.Dockerfile -t vbs/backup-service .
# Run the API with `--role api`, workers with `--role worker` (scale them separately). Workers
# need the volume root mounted (VBS_VOLUMES_ROOT) and the object store (a mounted directory or
# VBS_OBJECT_STORE=s3://bucket/prefix with AWS_* credentials).
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p backup-service -p vbsctl \
    && mkdir /out && cp target/release/backup-service target/release/vbsctl /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 vbs \
    && mkdir -p /var/lib/vbs/volumes /var/lib/vbs/objects && chown -R vbs /var/lib/vbs
COPY --from=build /out/ /usr/local/bin/
USER vbs
ENV VBS_BACKUP_BIND=0.0.0.0:8082 \
    VBS_CREATE_DATABASE=false \
    VBS_VOLUMES_ROOT=/var/lib/vbs/volumes \
    VBS_OBJECT_STORE=/var/lib/vbs/objects \
    VBS_LOG_FORMAT=json
EXPOSE 8082
ENTRYPOINT ["backup-service"]
CMD ["--role", "api"]
