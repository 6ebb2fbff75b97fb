# syntax=docker/dockerfile:1
#
# feedwire container image.
#
#   docker build -t feedwire .                            # the worker (last stage)
#   docker build -t feedwire-consumer --target consumer . # the example consumer
#
# TLS is rustls everywhere (reqwest rustls + ring, lapin rustls): neither the
# build nor the runtime needs OpenSSL. The runtime is distroless (glibc, CA
# roots, tzdata, no shell), matching the builder's Debian 12 (bookworm) glibc.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------
# builder: compiles the worker and the example consumer.
# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# 1. Dependencies only. The manifest names src/lib.rs, src/main.rs and the
#    benches benches/pipeline.rs, extract.rs, polling.rs, near_duplicates.rs and push.rs
#    (cargo refuses a manifest whose declared target
#    files are missing), and the consumer example is built too, so each gets
#    an empty stub. This layer is rebuilt only when Cargo.toml or Cargo.lock
#    change; examples pull in the dev-dependencies, so those are cached too.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches examples \
 && echo 'fn main() {}' > src/main.rs \
 && echo '' > src/lib.rs \
 && echo 'fn main() {}' > benches/pipeline.rs \
 && echo 'fn main() {}' > benches/extract.rs \
 && echo 'fn main() {}' > benches/polling.rs \
 && echo 'fn main() {}' > benches/near_duplicates.rs \
 && echo 'fn main() {}' > benches/push.rs \
 && echo 'fn main() {}' > examples/consumer.rs \
 && cargo fetch --locked \
 && cargo build --release --locked --bin feedwire --example consumer \
 && rm -rf src benches examples

# 2. The real sources. COPY keeps the files' modification times, which can be
#    older than the stub build above, so touch the crate roots: otherwise
#    cargo may take the stub artifacts as up to date.
COPY src ./src
COPY benches ./benches
COPY examples ./examples
RUN touch src/lib.rs src/main.rs examples/consumer.rs \
 && cargo build --release --locked --bin feedwire --example consumer \
 && install -D -m 0755 target/release/feedwire /out/feedwire \
 && install -D -m 0755 target/release/examples/consumer /out/consumer \
 && install -d -m 0750 -o 65532 -g 65532 /out/state

# ---------------------------------------------------------------------------
# consumer: the idempotent example consumer (deploy/compose.yaml and
# deploy/k8s/base/consumer-deployment.yaml). Reads FEEDWIRE_BROKER_URL.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS consumer
COPY --from=builder /out/consumer /usr/local/bin/feedwire-consumer
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/feedwire-consumer"]
CMD ["--queue", "feedwire.articles.work"]

# ---------------------------------------------------------------------------
# runtime: the worker. Last stage, so a plain `docker build` produces it.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="feedwire" \
      org.opencontainers.image.description="Streaming feed-ingestion worker: RSS/Atom/JSON Feed to RabbitMQ" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

COPY --from=builder /out/feedwire /usr/local/bin/feedwire
COPY deploy/feedwire.container.toml /etc/feedwire/feedwire.toml
# The state directory exists in the image owned by nonroot (65532), so a named
# Docker volume mounted here starts out writable by the worker. (Kubernetes
# gets the same through the pod's fsGroup.)
COPY --from=builder --chown=65532:65532 /out/state /var/lib/feedwire

# The broker URL (with its credentials) comes from FEEDWIRE_BROKER_URL, set by
# the orchestrator; it overrides [broker] url in the file.
ENV FEEDWIRE_CONFIG=/etc/feedwire/feedwire.toml

# SQLite store: /var/lib/feedwire/feedwire.db (plus its -wal/-shm files).
VOLUME ["/var/lib/feedwire"]
# [ops] listener: /metrics, /healthz, /readyz.
EXPOSE 9090

# distroless :nonroot already runs as nonroot; numeric so that Kubernetes'
# runAsNonRoot can verify it.
USER 65532:65532

# Exec form, no shell (distroless has none): feedwire is PID 1 and receives
# SIGTERM itself, finishes in-flight work within [pipeline] shutdown_grace
# (25 s, under the 30 s that Docker's stop_grace_period and Kubernetes'
# terminationGracePeriodSeconds allow) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/feedwire"]
CMD ["run"]
