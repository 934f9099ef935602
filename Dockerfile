# The layercache action image: one static binary and the CA certificates, nothing else.
#
# Needs BuildKit (the default builder of Docker 23 and later, and what the Actions runner's
# `docker build` uses there): the stage the final image copies its binary from is chosen by
# a build argument, and BuildKit builds only the stages that one needs.
#
#   BINARY_FROM=builder (default)  compile from source in a Rust image (what the runner does
#                                  when action.yml says `image: Dockerfile`).
#   BINARY_FROM=prebuilt           take binaries built outside Docker from the build context:
#                                  dist/<os>/<arch>/layercache and dist/ca-certificates.crt.
#                                  The release workflow and scripts/test.sh build this way.
#
# docs/release.md explains how a release points action.yml at the published image, so a
# workflow using the action never compiles anything.

ARG RUST_IMAGE=rust:1.95-alpine
ARG BINARY_FROM=builder

# --- dependencies, cached in their own layer --------------------------------------------
# cargo-chef turns the manifests into a recipe; the `cook` layer below depends only on that
# recipe, so a change to src/ rebuilds the crate alone, not its ~300 dependencies.
FROM ${RUST_IMAGE} AS chef
# On Alpine the host target is *-linux-musl and links statically by default. make builds
# jemalloc (tikv-jemalloc-sys), the allocator src/main.rs chooses.
RUN apk add --no-cache musl-dev gcc make ca-certificates \
    && cargo install --locked cargo-chef --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin layercache \
    && mkdir /out /certs \
    && cp target/release/layercache /out/layercache \
    && ln -s layercache /out/layercache-post \
    && cp /etc/ssl/certs/ca-certificates.crt /certs/ca-certificates.crt

# --- binaries built outside Docker --------------------------------------------------------
FROM scratch AS prebuilt
# Set by BuildKit for each platform of a multi-platform build (linux/amd64, linux/arm64).
ARG TARGETPLATFORM
# The directory: layercache, and layercache-post as a symlink to it.
COPY dist/${TARGETPLATFORM}/ /out/
COPY dist/ca-certificates.crt /certs/ca-certificates.crt

FROM ${BINARY_FROM} AS binary

# --- the image ----------------------------------------------------------------------------
FROM scratch AS image
COPY --from=binary /certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# layercache, and layercache-post -> layercache: action.yml's `post-entrypoint` (the binary
# picks the post step by the name it was started as; a second copy would double the image).
COPY --from=binary /out/ /usr/local/bin/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# There is no shell to mkdir with: WORKDIR creates /tmp (std::env::temp_dir) for a root
# process. The runner sets --workdir /github/workspace itself.
WORKDIR /tmp
WORKDIR /
# No USER: the runner mounts the workspace and file-command directories for root, and a
# container action that is not root cannot write them.
ENTRYPOINT ["/usr/local/bin/layercache"]
CMD ["action"]
