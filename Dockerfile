# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
FROM golang:1.26-bookworm AS build
# cgo is needed for the SQLite driver (mattn/go-sqlite3); gcc and libc6-dev
# come with the golang image.
ENV CGO_ENABLED=1 \
    GOFLAGS=-buildvcs=false
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/conexor ./cmd/conexor

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 conexor \
 && useradd --system --uid 10001 --gid conexor --home-dir /data --no-create-home --shell /usr/sbin/nologin conexor \
 && mkdir -p /data \
 && chown conexor:conexor /data
COPY --from=build /out/conexor /usr/local/bin/conexor
USER conexor:conexor
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/conexor", "health", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/conexor"]
CMD ["serve", "--addr", ":8080", "--database-url", "sqlite:///data/conexor.db"]
