# syntax=docker/dockerfile:1
# The single binary as a container image: a static build (no cgo) on a
# distroless base, running as an unprivileged user, with the store on a
# volume. Build it from a fresh clone (docs/operations.md#container-image):
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t tripsense .
#   docker run -d -p 8080:8080 -v tripsense-data:/data \
#     -e TRIPSENSE_TOKEN_SECRET="$(openssl rand -hex 32)" tripsense
#
# The Go version is go.mod's (a test keeps them equal).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X github.com/tripsense/tripsense/cmd/internal/buildinfo.version=${VERSION}" \
      -o /out/tripsense ./cmd/tripsense \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tripsense /usr/local/bin/tripsense
COPY --from=build --chown=65532:65532 /out/data /data
# Token mode on all interfaces of the container; the demo data is not
# loaded. Set TRIPSENSE_TOKEN_SECRET (at least 32 bytes) at run time.
ENV TRIPSENSE_DATA=/data \
    TRIPSENSE_ADDR=0.0.0.0:8080 \
    TRIPSENSE_AUTH=token \
    TRIPSENSE_NO_DEMO=true \
    TRIPSENSE_LOG_FORMAT=json \
    TRIPSENSE_MAX_CONNECTIONS_PER_IP=0 \
    TRIPSENSE_CONNECT_RATE=0
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# distroless has no shell or curl: the binary asks its own /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/tripsense", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tripsense"]
CMD ["serve"]
