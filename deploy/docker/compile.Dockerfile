# One executable per service (scripts/compile.ts), built in a container
# where the network allows `deno compile` to download its runtime base, and
# written to the host:
#
#   docker build -f deploy/docker/compile.Dockerfile --output dist .
#
# (--output needs BuildKit, the default builder of current Docker.) Offline,
# the build stops at the compile step with scripts/compile.ts's one line.
ARG BASE_IMAGE=denoland/deno:2.9.6
FROM ${BASE_IMAGE} AS compile
ENV DENO_NO_UPDATE_CHECK=1
WORKDIR /src
COPY deno.json deno.lock commands.ts main.ts ./
COPY lib ./lib
COPY services ./services
COPY tools ./tools
COPY scripts/compile.ts ./scripts/compile.ts
RUN deno run -A scripts/compile.ts --out-dir /dist

FROM scratch
COPY --from=compile /dist /
