# One image for every service; the command chooses which:
#   docker run underhood dns --host 0.0.0.0
FROM denoland/deno:2.5.6
WORKDIR /app
COPY deno.json ./
COPY commands.ts main.ts ./
COPY lib ./lib
COPY services ./services
COPY tools ./tools
COPY config ./config
RUN deno cache main.ts
ENTRYPOINT ["deno", "run", "-A", "main.ts"]
