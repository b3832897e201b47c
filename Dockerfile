# One image for every service; the first argument chooses which, the rest
# are its flags, and every flag can also come from the environment
# (UNDERHOOD_<SERVICE>_<FLAG>, see the README):
#
#   docker build -t underhood .
#   docker run --rm -p 8005:8005 underhood cache
#   docker run --rm -e UNDERHOOD_DNS_ZONE=config/zones/example.com.zone underhood dns
#
# BASE_IMAGE is any image with Deno 2 at /usr/bin/deno or on PATH; the
# default is the official one. Offline machines build a stand-in under the
# same tag first (scripts/compose_e2e.sh: debootstrap plus this machine's
# Deno binary).
ARG BASE_IMAGE=denoland/deno:2.9.6
FROM ${BASE_IMAGE}

WORKDIR /app
# DENO_DIR fixed, so the cache filled at build time is the one read at run
# time whatever the base image sets.
# No update check: it would look up Deno's release server at every start.
ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    UNDERHOOD_HOST=0.0.0.0 \
    NO_COLOR=1

COPY deno.json deno.lock commands.ts main.ts ./
COPY lib ./lib
COPY services ./services
COPY tools ./tools
COPY config ./config
COPY deploy/compose ./deploy/compose
COPY scripts/healthcheck.ts ./scripts/healthcheck.ts
RUN mkdir -p /data "$DENO_DIR" && chown 1993:1993 /data "$DENO_DIR"

# Not root. uid 1993 is the official image's `deno` user; a named volume
# mounted on /data (the stores' data directory in compose.yaml) takes this
# directory's owner. DENO_DIR is the user's, so the V8 code cache written at
# the first start serves the next ones (and every health check).
USER 1993:1993

# Dependencies cached at build time: every module main.ts can load
# (commands.ts names them literally), their npm packages and the health
# check, into DENO_DIR; --cached-only below then makes a missing one an
# error at start instead of a download.
RUN deno cache main.ts scripts/healthcheck.ts

# /readyz of whichever service this container runs (scripts/healthcheck.ts
# reads its flags and environment to find the port). compose.yaml sets the
# timing; Kubernetes uses its own probes.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["deno", "run", "-A", "--cached-only", "scripts/healthcheck.ts"]

ENTRYPOINT ["deno", "run", "-A", "--cached-only",
            "--v8-flags=--enable-experimental-regexp-engine,--enable-experimental-regexp-engine-on-excessive-backtracks",
            "main.ts"]
CMD ["help"]
