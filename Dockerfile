# syntax=docker/dockerfile:1
# eventexport: a static binary on a distroless base, running as a non-root user.
# Zone data is embedded in the binary (time/tzdata); CA certificates (for alert webhooks) come
# with the base image.

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/eventexport ./cmd/eventexport

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/eventexport /usr/local/bin/eventexport
USER nonroot:nonroot
# The admin API, /healthz, /readyz and /metrics (EVENTEXPORT_ADMIN_ADDR).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/eventexport"]
# serve applies the migrations before it starts.
CMD ["serve"]
