# syntax=docker/dockerfile:1.7
#
# One image with every SalesCompass binary in /usr/local/bin (tenants, gateway, crm, ..., and the
# `salescompass` launcher); Kubernetes picks the binary per Deployment (`command`), e.g.
#   docker run --rm ghcr.io/salescompass/salescompass:1.2.3 tenants serve
# Why one image rather than one per service: docs/operations.md ("Images").
#
# Builds offline except for crates.io: protobuf is compiled in build.rs with protox (no protoc),
# Swagger UI is vendored, sqlx builds with SQLX_OFFLINE. The dependency layer (cargo-chef) is
# reused until Cargo.toml or Cargo.lock change; the registry sits in a BuildKit cache mount.
#
#   docker buildx build -t salescompass:dev --build-arg SALESCOMPASS_COMMIT=$(git rev-parse --short HEAD) .
#   docker buildx build --target binaries --output type=local,dest=out .   # just the binaries

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN --mount=type=cache,id=salescompass-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# release for images; Tilt and quick checks may pass --build-arg CARGO_PROFILE=dev.
ARG CARGO_PROFILE=release
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    SQLX_OFFLINE=true
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,id=salescompass-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --profile "${CARGO_PROFILE}" --locked --recipe-path recipe.json
COPY . .
# The context has no .git: the commit for `salescompass_build_info` comes in as a build argument,
#   docker buildx build --build-arg SALESCOMPASS_COMMIT=$(git rev-parse --short HEAD) ...
# Declared after the dependency layer, so a new commit does not rebuild the dependencies.
ARG SALESCOMPASS_COMMIT=unknown
ENV SALESCOMPASS_COMMIT=${SALESCOMPASS_COMMIT}
RUN --mount=type=cache,id=salescompass-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --profile "${CARGO_PROFILE}" --locked --bins \
    && case "${CARGO_PROFILE}" in dev) dir=debug ;; *) dir="${CARGO_PROFILE}" ;; esac \
    && mkdir -p /out/bin \
    && find "target/${dir}" -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.d' \
        -exec cp {} /out/bin/ \; \
    && ls -l /out/bin \
    && test -x /out/bin/tenants && test -x /out/bin/gateway

# Only the binaries, for `--output type=local`.
FROM scratch AS binaries
COPY --from=builder /out/bin/ /

# Runtime: glibc + libgcc + CA certificates, no shell, no package manager, uid/gid 65532.
# Debian 12 like the builder, so the glibc the binaries link against is the one they run on.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="salescompass" \
      org.opencontainers.image.description="SalesCompass services: /usr/local/bin/<service> serve|migrate" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/bin/ /usr/local/bin/
# mimalloc (the allocator of every binary) returns freed pages to the system at once instead of
# after a delay: 6-9 MB less resident memory under load at the same throughput (BENCHMARKS.md).
ENV MIMALLOC_PURGE_DELAY=0
USER 65532:65532
# No ENTRYPOINT and no HEALTHCHECK: the Helm chart sets the command per service, and Kubernetes
# probes /healthz, /readyz (admin port 9090) and grpc.health.v1 (port 50051).
