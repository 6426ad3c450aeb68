# syntax=docker/dockerfile:1
# Tern's container image: `tern` and `ternctl` on PATH, run as an unprivileged user on ports
# >= 1024 (the chart's Service maps 25/465/587/143/993/110/995 onto them). Two builds of the
# node: `tern` (embedded and PostgreSQL stores) and `tern-fdb` (also FoundationDB, linked
# against libfdb_c, which the image does not carry: with store.backend = "fdb" the entrypoint
# runs `tern-fdb` with the library the FoundationDB operator's init container copied into
# $FDB_LIBRARY_DIR). Build: docker build -t tern .

ARG RUST_VERSION=1.95
ARG FDB_VERSION=7.3.63

FROM rust:${RUST_VERSION}-bookworm AS build
ARG FDB_VERSION
# libclang for foundationdb-sys' bindgen; the FoundationDB client package only to link
# tern-fdb (the runtime takes the library from the operator, matching the cluster's version).
# Debian's package versions are not pinned (DL3008): bookworm's security updates replace them,
# and a pinned version disappears from the mirror.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
ADD https://github.com/apple/foundationdb/releases/download/${FDB_VERSION}/foundationdb-clients_${FDB_VERSION}-1_amd64.deb /tmp/fdb-clients.deb
RUN dpkg -i /tmp/fdb-clients.deb && rm /tmp/fdb-clients.deb
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tern-server -p tern-ops \
 && cp target/release/tern target/release/ternctl /usr/local/bin/ \
 && cargo build --release --locked -p tern-server --features fdb \
 && cp target/release/tern /usr/local/bin/tern-fdb

FROM debian:bookworm-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tern \
 && useradd --system --uid 10001 --gid tern --home-dir /var/lib/tern --shell /usr/sbin/nologin tern \
 && mkdir -p /var/lib/tern /etc/tern \
 && chown tern:tern /var/lib/tern
COPY --from=build /usr/local/bin/tern /usr/local/bin/tern-fdb /usr/local/bin/ternctl /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/tern-entrypoint
ENV TERN_SERVER__DATA_DIR=/var/lib/tern \
    TERN_LISTENERS__SMTP=0.0.0.0:2525 \
    TERN_LISTENERS__SUBMISSION=0.0.0.0:2587 \
    TERN_LISTENERS__SUBMISSIONS=0.0.0.0:2465 \
    TERN_LISTENERS__IMAP=0.0.0.0:1143 \
    TERN_LISTENERS__IMAPS=0.0.0.0:1993 \
    TERN_LISTENERS__POP3=0.0.0.0:1110 \
    TERN_LISTENERS__POP3S=0.0.0.0:1995 \
    TERN_LISTENERS__HTTP=0.0.0.0:8080 \
    FDB_LIBRARY_DIR=/usr/lib/fdb
EXPOSE 2525 2587 2465 1143 1993 1110 1995 8080 7000
USER 10001:10001
WORKDIR /var/lib/tern
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/tern-entrypoint"]
CMD ["serve", "--config", "/etc/tern/tern.toml"]
