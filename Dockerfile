# The lamport-bank image: the binary built in a Rust image, run from a small Debian one (which
# keeps a shell, for the Kubernetes StatefulSet's command that derives --id from the pod's
# name). Build it with `docker build -t lamport-bank:latest .`, or `docker-compose -f
# deploy/compose.yaml build`. The entrypoint is the binary: `docker run lamport-bank serve ...`.
FROM rust:1-bookworm AS builder
WORKDIR /src
# protox compiles the .proto files in build.rs: no protoc is needed.
COPY . .
RUN cargo build --release --locked --bin lamport-bank

FROM debian:bookworm-slim
COPY --from=builder /src/target/release/lamport-bank /usr/local/bin/lamport-bank
COPY deploy/cluster.toml /etc/lamport-bank/cluster.toml
COPY examples/sample.json /etc/lamport-bank/sample.json
# A branch holds nothing a user needs to protect from itself, but it needs no root either.
USER 65534:65534
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/lamport-bank"]
CMD ["--help"]
