# syntax=docker/dockerfile:1
# loadtide container image: the Rust binary on distroless cc (glibc + libgcc, no shell).
#
#   docker build -t loadtide --build-arg REVISION="$(git rev-parse --short=12 HEAD)" .
#   docker run --rm -p 9632:9632 --stop-timeout 30 loadtide                # bundled demo config
#   docker run --rm -p 9632:9632 --stop-timeout 30 \
#     -v "$PWD/my.toml:/etc/loadtide/loadtide.toml:ro" loadtide            # your config
#
# Config: /etc/loadtide/loadtide.toml (mount over it; the bundled one drives the built-in demo
# target on 127.0.0.1:9633 inside the container). Reload: docker kill --signal=HUP <name>.
# Linted by scripts/check-packaging.sh (hadolint).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
# The slim Rust image already ships gcc and libc6-dev (ring's build script compiles C and
# assembly with them); TLS is rustls + ring, so no OpenSSL is needed at build or run time.
WORKDIR /src
# No .git in the build context: build.rs takes the revision for loadtide_build_info from here.
ARG REVISION=unknown
ENV LOADTIDE_REVISION=${REVISION}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Release build of the one binary, --locked like CI. The BuildKit caches keep crates and
# compiled dependencies between builds; the binary is copied out of the cached target dir.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin loadtide \
    && install -m 0755 target/release/loadtide /usr/local/bin/loadtide

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="loadtide" \
      org.opencontainers.image.description="Scheduled load generation with Prometheus metrics on :9632" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /usr/local/bin/loadtide /usr/local/bin/loadtide
COPY --chown=0:0 --chmod=0644 config/loadtide.toml /etc/loadtide/loadtide.toml
# distroless "nonroot" user; the config stays root-owned and read-only.
USER 65532:65532
EXPOSE 9632
# No shell or curl here, so the binary probes itself: `loadtide healthcheck` GETs
# http://127.0.0.1:9632/-/healthy (exit 0 on 2xx). Listening elsewhere (--web.listen-address,
# server.listen)? Set LOADTIDE_HEALTHCHECK_URL to match. Kubernetes ignores HEALTHCHECK and
# probes /-/healthy and /-/ready itself; OCI-format builds (podman, buildah) drop it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/loadtide", "healthcheck"]
# SIGTERM drains in-flight requests for up to server.drain_timeout (10s by default), the
# same as Docker's default stop timeout: run with --stop-timeout 30 (Compose:
# stop_grace_period: 30s) so the drain is not cut short by SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/loadtide"]
# The bundled config listens on loopback only; in a container that must be every interface.
CMD ["serve", "--config", "/etc/loadtide/loadtide.toml", "--web.listen-address", ":9632"]
