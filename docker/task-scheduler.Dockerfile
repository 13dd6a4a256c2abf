# syntax=docker/dockerfile:1
# task-scheduler. Build from the repository root:
#   docker build -f docker/task-scheduler.Dockerfile -t vbs/task-scheduler .
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p task-scheduler \
    && mkdir /out && cp target/release/task-scheduler /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 vbs
COPY --from=build /out/ /usr/local/bin/
USER vbs
ENV VBS_SCHEDULER_BIND=0.0.0.0:8081 \
    VBS_CREATE_DATABASE=false \
    VBS_LOG_FORMAT=json
EXPOSE 8081
ENTRYPOINT ["task-scheduler"]
