# The clusterdns image, for both roles: CoreDNS's contract (binary /coredns taking CoreDNS's
# args, non-root 65532, :53 bound with every capability dropped but NET_BIND_SERVICE, works on a
# read-only root filesystem) and node-cache's (its flags, the nodelocaldns link and iptables
# rules with the NET_ADMIN the DaemonSet adds; /node-cache is the same binary).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# bench/dist.sh builds what the benchmarks measure: the dist profile (fat LTO), jemalloc (a
# feature, its options in .cargo/config.toml), glibc linked statically, the functions that run
# linked together (it reads the symbols of a first link, so they are dropped only here).
RUN cp "$(bash bench/dist.sh)" /clusterdns && strip /clusterdns

FROM debian:bookworm-slim AS caps
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
COPY --from=build /clusterdns /coredns
# File-permitted only, raised by the binary at start (src/capabilities.rs): with the effective
# bit, exec would fail wherever one of them is outside the container's bounding set, as in the
# coredns Deployment, which keeps only NET_BIND_SERVICE.
RUN setcap cap_net_bind_service,cap_net_admin,cap_net_raw,cap_dac_override=+p /coredns

# Debian rather than distroless: node-cache's role runs iptables (both variants; the one the
# host's rules are in is used, as node-cache's iptables-wrapper picks).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
COPY --from=caps /coredns /coredns
RUN ln -s /coredns /node-cache
USER 65532:65532
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["/coredns"]
