# cubist's image for hosts with a container engine (Docker, Podman, BuildKit). Without one,
# deploy/image/build.sh builds the same kind of image with umoci. The runtime stage runs as
# the non-root user 65532 that deploy/deployment.yaml expects.
#   docker build -t REGISTRY/cubist:0.1.0 .
FROM rust:bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin cubist

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 cubist \
    && useradd --uid 65532 --gid 65532 --home-dir /home/cubist --create-home \
       --shell /usr/sbin/nologin cubist \
    && install -d -o 65532 -g 65532 /var/cache/cubist
COPY --from=build /src/target/release/cubist /usr/local/bin/cubist
USER 65532:65532
WORKDIR /home/cubist
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cubist"]
