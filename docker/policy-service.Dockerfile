# syntax=docker/dockerfile:1
# policy-service and the vbsctl operator tool. Build from the repository root:
#   docker build -f docker/policy-service.Dockerfile -t vbs/policy-service .
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p policy-service -p vbsctl \
    && mkdir /out && cp target/release/policy-service target/release/vbsctl /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 vbs
COPY --from=build /out/ /usr/local/bin/
USER vbs
ENV VBS_POLICY_BIND=0.0.0.0:8080 \
    VBS_CREATE_DATABASE=false \
    VBS_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["policy-service"]
