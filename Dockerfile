# The clusterdns image: CoreDNS's contract (binary /coredns taking CoreDNS's args, non-root
# 65532, cap_net_bind_service on the file so :53 binds with every capability dropped, works on a
# read-only root filesystem), on distroless like CoreDNS's own.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The dist profile (fat LTO), jemalloc (a feature) and .cargo/config.toml (jemalloc's options)
# come with the source; the image also drops symbols (11.3 MB -> ~9 MB).
ENV CARGO_PROFILE_DIST_STRIP=true
RUN cargo build --profile dist --features jemalloc --locked --bin clusterdns

FROM debian:bookworm-slim AS caps
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/dist/clusterdns /coredns
RUN setcap cap_net_bind_service=+ep /coredns

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=caps /coredns /coredns
USER 65532:65532
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["/coredns"]
