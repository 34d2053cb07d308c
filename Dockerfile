# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ferry ./cmd/ferry \
 && mkdir -p /out/data

# Run: nothing but the binary, as an unprivileged user, data on a volume.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ferry /ferry
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV FERRY_ADDR=:8080 FERRY_DATA=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/ferry"]
CMD ["serve"]
