# Vexil's container image: a static binary on distroless, running as nonroot.
#
#   docker build -t ghcr.io/vexilhq/vexil:latest .
#   docker run --rm -p 8013-8016:8013-8016 -v "$PWD/flags:/flags:ro" \
#     ghcr.io/vexilhq/vexil:latest start --uri file:/flags/flags.json
#
# Without --uri the daemon serves the bundled example flags.

# Base images pinned by digest (update: `docker buildx imagetools inspect
# IMAGE:TAG`); the tag is kept for readers.
FROM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/vexil ./daemon/cmd/vexil

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/vexil /vexil
# Evaluation (Connect, gRPC, HTTP/JSON), management (/healthz, /readyz),
# flag sync (flagd.sync.v1), OFREP.
EXPOSE 8013 8014 8015 8016
# Numeric, so that Kubernetes can check runAsNonRoot: distroless's nonroot.
USER 65532:65532
ENTRYPOINT ["/vexil"]
CMD ["start"]
