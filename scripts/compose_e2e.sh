#!/usr/bin/env bash
# scripts/compose_e2e.sh (`deno task e2e:compose`): compose.yaml, run for real.
#
# On a machine with no container engine and no image registry, as root:
#   1. installs Debian's docker.io and docker-compose (1.29), and the clients
#      the checks use (dig, redis-cli, psql, curl, swaks), when missing;
#   2. creates a network namespace and starts dockerd inside it, with its own
#      data root, exec root, socket and pid file under one work directory, so
#      nothing it does reaches beyond the machine (the namespace has only
#      loopback and the bridges dockerd makes in it) and nothing is left on
#      the host's own Docker paths;
#   3. builds a stand-in for the Dockerfile's default BASE_IMAGE: debootstrap
#      of Debian plus this machine's Deno binary (uid 1993 as in the official
#      image), its DENO_DIR already holding the npm packages main.ts imports,
#      since `docker build` inside the namespace reaches no registry;
#   4. builds the image, `compose up`, waits for every container to be
#      healthy, and runs the end-to-end checks from inside the namespace:
#      dig against dns and resolver (UDP and TCP, and through the published
#      ports), a container resolving example.com through the resolver,
#      redis-cli PING, psql SELECT 1, curl through the lb (PUT and GET in
#      /files), swaks to smtp and the mail found in its mailbox API, a
#      spell.created event sent to the mq (STOMP over nc) that the worker
#      turns into a mail, its MX found through the resolver;
#   5. `compose down -v`, stops dockerd by its PID, deletes the namespace and
#      every file it created, whatever happened before (trap).
#
# Not part of `deno task test`: it needs root and takes minutes.
#
# Environment:
#   COMPOSE="docker compose"   use Compose v2 (default: docker-compose, 1.29)
#   E2E_CACHE_DIR=DIR          keep the debootstrap root file system in DIR
#                              between runs (default: rebuilt each run, removed)
#   E2E_KEEP=1                 on failure, leave everything up for a look (and
#                              print how to clean it up)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

COMPOSE="${COMPOSE:-docker-compose}"
PROJECT="underhood-e2e"
NS="underhood-e2e-$$"
WORK="$(mktemp -d /var/tmp/underhood-e2e.XXXXXX)"
DOCKERD_PID=""
KEY_JSON_EXISTED=0
[ -e /etc/docker/key.json ] && KEY_JSON_EXISTED=1
HEALTHY_WAIT_SEC=240
# The containers' fixed addresses (compose.yaml, deploy/compose/example.com.zone).
DNS_IP=172.30.53.10
RESOLVER_IP=172.30.53.53
LB_IP=172.30.53.80
SMTP_IP=172.30.53.25
SERVICES=(dns resolver datastore cache mq objects smtp lb worker)

step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'FAILED: %s\n' "$*" >&2
  exit 1
}
inns() { ip netns exec "$NS" "$@"; }
compose() { $COMPOSE -p "$PROJECT" -f "$ROOT/compose.yaml" "$@"; }

cleanup() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && [ "${E2E_KEEP:-}" = "1" ]; then
    echo "E2E_KEEP=1: left up. DOCKER_HOST=unix://$WORK/docker.sock, namespace $NS,"
    echo "dockerd pid $DOCKERD_PID; clean up with: kill $DOCKERD_PID; ip netns del $NS; rm -rf $WORK"
    exit "$status"
  fi
  step "cleanup"
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    if [ "$status" -ne 0 ]; then
      echo "-- logs of the stack (last lines of each)"
      compose logs --no-color --tail=15 2>&1 | tail -150
    fi
    compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1
    kill "$DOCKERD_PID"
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      echo "dockerd $DOCKERD_PID did not stop in 30 s: SIGKILL"
      kill -9 "$DOCKERD_PID"
    fi
    echo "dockerd $DOCKERD_PID stopped"
  fi
  # Mounts dockerd left under the work directory (overlays, netns handles), deepest first.
  awk -v w="$WORK" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m"
  done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
  [ "$KEY_JSON_EXISTED" = "0" ] && rm -f /etc/docker/key.json
  echo "removed namespace $NS and $WORK"
  if [ "$status" -eq 0 ]; then echo "compose e2e: passed"; else echo "compose e2e: FAILED"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = "0" ] || fail "needs root (network namespaces, dockerd)"

step "packages"
need=()
for pair in dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap \
  ip:iproute2 iptables:iptables dig:bind9-dnsutils redis-cli:redis-tools \
  psql:postgresql-client curl:curl swaks:swaks; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's docker CLI, whatever else is on PATH.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER="$(command -v docker)"
export DOCKER_HOST="unix://$WORK/docker.sock"
echo "dockerd $(/usr/sbin/dockerd --version | awk '{print $3}' | tr -d ,), compose: $($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -1)"

step "dockerd in network namespace $NS"
ip netns add "$NS"
inns ip link set lo up
# nsenter, not `ip netns exec`: that also remounts /sys, which hides the
# cgroup mounts dockerd needs. Only the network is private.
nsenter --net="/run/netns/$NS" /usr/sbin/dockerd \
  --data-root "$WORK/docker" --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" \
  --host "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 60); do
  "$DOCKER" info >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -5 "$WORK/dockerd.log"; fail "dockerd exited"; }
  sleep 1
done
"$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not answer in 60 s"
echo "dockerd pid $DOCKERD_PID, socket $DOCKER_HOST"
inns ip -brief address | sed 's/^/  /'

step "base image (stand-in for the Dockerfile's default)"
BASE_IMAGE="$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)"
[ -n "$BASE_IMAGE" ] || fail "no ARG BASE_IMAGE default in the Dockerfile"
ROOTFS="$WORK/rootfs"
if [ -n "${E2E_CACHE_DIR:-}" ] && [ -f "$E2E_CACHE_DIR/rootfs.tar" ]; then
  echo "debootstrap: reusing $E2E_CACHE_DIR/rootfs.tar"
  mkdir -p "$ROOTFS" && tar -C "$ROOTFS" -xf "$E2E_CACHE_DIR/rootfs.tar"
else
  echo "debootstrap --variant=minbase bookworm (a minute or two)"
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
    { tail -5 "$WORK/debootstrap.log"; fail "debootstrap"; }
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  if [ -n "${E2E_CACHE_DIR:-}" ]; then
    mkdir -p "$E2E_CACHE_DIR" && tar -C "$ROOTFS" -cf "$E2E_CACHE_DIR/rootfs.tar" .
  fi
fi
DENO_BIN="$(readlink -f "$(command -v deno)")"
install -m 0755 "$DENO_BIN" "$ROOTFS/usr/bin/deno"
chroot "$ROOTFS" groupadd --gid 1993 deno 2>/dev/null || true
chroot "$ROOTFS" useradd --uid 1993 --gid 1993 --home-dir /home/deno --create-home deno 2>/dev/null || true
# The npm packages main.ts imports, fetched here (the host reaches the npm
# registry; the namespace does not), so the Dockerfile's `deno cache` finds them.
DENO_DIR="$ROOTFS/deno-dir" deno cache --quiet main.ts scripts/healthcheck.ts
rm -rf "$ROOTFS/deno-dir/gen" "$ROOTFS/deno-dir/remote"
chown -R 1993:1993 "$ROOTFS/deno-dir"
tar -C "$ROOTFS" -c . | "$DOCKER" import \
  -c 'ENV DENO_DIR=/deno-dir' -c 'ENTRYPOINT ["deno"]' -c 'CMD ["--version"]' \
  - "$BASE_IMAGE" >/dev/null
rm -rf "$ROOTFS"
"$DOCKER" run --rm "$BASE_IMAGE" --version | head -1 | sed "s|^|$BASE_IMAGE: |"

step "build the image"
compose build 2>&1 | tail -3
"$DOCKER" image ls underhood:local --format 'image underhood:local: {{.Size}}'
"$DOCKER" image ls "$BASE_IMAGE" --format "base $BASE_IMAGE: {{.Size}}"
"$DOCKER" history underhood:local --format '{{.Size}}\t{{.CreatedBy}}' | head -12 | cut -c1-110
"$DOCKER" run --rm --entrypoint id underhood:local

step "compose up"
# Until the http-api is built, the lb's api pool has no backend: its /readyz
# says so (503) and it is checked below for exactly that instead of "healthy".
API_BUILT=1
deno run -A main.ts help | grep -Eq '^  http-api .*not built yet' && API_BUILT=0
[ "$API_BUILT" = 1 ] && SERVICES+=(http-api-1 http-api-2)
compose up -d 2>&1 | grep -v '^Creating .*\.\.\. $' | tail -12
deadline=$((SECONDS + HEALTHY_WAIT_SEC))
while :; do
  states=""
  all=1
  for s in "${SERVICES[@]}"; do
    id="$(compose ps -q "$s")"
    state="$("$DOCKER" inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing)"
    states+="$s=$state "
    if [ "$s" = lb ] && [ "$API_BUILT" = 0 ]; then
      # Healthy but for its api pool: /readyz lists `pool objects` ok, `pool api` not.
      log="$("$DOCKER" inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" 2>/dev/null)"
      grep -q '"pool objects":{"ok":true' <<<"$log" || all=0
      continue
    fi
    [ "$state" = "healthy" ] || all=0
  done
  [ "$all" = 1 ] && break
  [ "$SECONDS" -lt "$deadline" ] || fail "not all healthy after ${HEALTHY_WAIT_SEC}s: $states"
  sleep 2
done
echo "healthy: $states"
compose ps

step "checks, from inside the namespace"
check() {
  local name="$1" expect="$2"
  shift 2
  local out
  out="$("$@" 2>&1)" || fail "$name: exit $? : $out"
  grep -Eq -- "$expect" <<<"$out" || fail "$name: expected /$expect/, got: $out"
  printf 'ok   %-52s %s\n' "$name" "$(head -1 <<<"$out" | cut -c1-60)"
}
check "dig dns (udp) example.com SOA" '^ns1\.example\.com\. hostmaster' \
  inns dig +short +time=2 +tries=3 @"$DNS_IP" example.com SOA
check "dig dns (tcp) example.com MX" '^10 mail\.example\.com\.$' \
  inns dig +short +tcp +time=2 @"$DNS_IP" example.com MX
check "dig resolver (udp) www.example.com" "^$LB_IP\$" \
  inns dig +short +time=2 +tries=3 @"$RESOLVER_IP" www.example.com
check "dig resolver (tcp) mail.example.com" "^$SMTP_IP\$" \
  inns dig +short +tcp +time=2 @"$RESOLVER_IP" mail.example.com
check "dig resolver refuses other names (local-only)" 'status: REFUSED' \
  inns dig +time=2 @"$RESOLVER_IP" deno.com
check "dig published port 5354 (resolver)" "^$LB_IP\$" \
  inns dig +short +time=2 @127.0.0.1 -p 5354 www.example.com
check "dig published port 1053 (dns)" '^10 mail' inns dig +short +time=2 @127.0.0.1 -p 1053 example.com MX
check "container resolves www.example.com via resolver" "^$LB_IP " \
  compose exec -T lb getent hosts www.example.com
check "container resolves compose names (objects)" '^172\.30\.53\.' \
  compose exec -T lb getent hosts objects
check "redis-cli PING (cache)" '^PONG$' inns redis-cli -h 127.0.0.1 -p 8005 PING
check "redis-cli SET/GET" '^underhood$' \
  inns sh -c 'redis-cli -p 8005 SET e2e underhood >/dev/null && redis-cli -p 8005 GET e2e'
check "psql SELECT 1 (datastore)" '^1$' \
  inns psql -h 127.0.0.1 -p 8004 -U postgres -d postgres -tA -c 'SELECT 1'
check "curl PUT /files/hello.txt through the lb" '^200$' \
  inns curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary 'hello from compose' \
  "http://$LB_IP:8080/files/hello.txt"
check "curl GET /files/hello.txt through the lb (8080)" '^hello from compose$' \
  inns curl -sf "http://127.0.0.1:8080/files/hello.txt"
check "curl GET /files/hello.txt through the lb (80)" '^hello from compose$' \
  inns curl -sf "http://127.0.0.1:80/files/hello.txt"
check "swaks to dev@example.com (smtp)" "<- +221 " \
  inns swaks --server "$SMTP_IP:2525" --from e2e@example.com --to dev@example.com \
  --helo e2e.example.com --header 'Subject: compose e2e' --body 'sent by compose_e2e.sh'
check "the mail is in smtp's mailbox API" 'compose e2e' \
  inns curl -sf "http://$SMTP_IP:12525/api/mailboxes/dev@example.com/messages"
# The spells API through the lb, once the http-api is built: create a spell,
# read it back, and find the worker's mail about it.
if [ "$API_BUILT" = 1 ]; then
  check "curl POST /api/spells through the lb" '^201$' inns curl -s -o /dev/null -w '%{http_code}' \
    -H 'content-type: application/json' \
    -d '{"name":"Composium","incantation":"Composium!","description":"Made by compose_e2e.sh."}' \
    "http://$LB_IP:8080/api/spells"
  check "curl GET /api/spells?q=Composium through the lb" 'Composium' \
    inns curl -sf "http://127.0.0.1:8080/api/spells?q=Composium"
  mail=""
  for _ in $(seq 1 60); do
    mail="$(inns curl -sf "http://$SMTP_IP:12525/api/mailboxes/dev@example.com/messages?subject=Composium" || true)"
    grep -q Composium <<<"$mail" && break
    sleep 1
  done
  check "the worker mailed about the new spell" 'Composium' echo "$mail"
fi

# The worker: a spell.created event on the mq becomes a mail to dev@example.com,
# delivered to the MX the resolver gives (mail.example.com, the smtp container).
EVENT='{"event":"spell.created","spell":{"id":4242,"name":"Containerus","incantation":"Containerus!","description":"Sent by compose_e2e.sh.","createdAt":"2026-12-02T07:00:00.000Z"}}'
# STOMP by hand (python3's socket): CONNECT and SEND in one write, then read
# until the RECEIPT, which the mq sends once the message is on disk.
stomp_send() {
  python3 - "$1" <<'PY'
import socket, sys
body = sys.argv[1].encode()
with socket.create_connection(("127.0.0.1", 8006), timeout=10) as s:
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0"
              b"SEND\ndestination:/queue/spell.created\ncontent-type:application/json\n"
              b"persistent:true\nreceipt:e2e-1\n\n" + body + b"\0")
    data = b""
    while b"RECEIPT" not in data and b"ERROR" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
print(data.replace(b"\0", b"\n").decode().split("\n\n")[-2].strip())
PY
}
check "STOMP SEND spell.created to the mq (python3 socket)" '^RECEIPT' inns bash -c \
  "$(declare -f stomp_send); stomp_send '$EVENT'"
mail=""
for _ in $(seq 1 60); do
  mail="$(inns curl -sf "http://$SMTP_IP:12525/api/mailboxes/dev@example.com/messages?subject=Containerus" || true)"
  grep -q Containerus <<<"$mail" && break
  sleep 1
done
check "the worker mailed it (found in smtp's mailbox API)" 'Containerus' echo "$mail"

for s in "${SERVICES[@]}"; do
  if [ "$s" = lb ] && [ "$API_BUILT" = 0 ]; then
    check "lb /readyz: objects up, api pool empty (http-api not built)" \
      'pool api.*0 of 2 backend' sh -c "$(printf '%q ' $COMPOSE) -p $PROJECT -f $ROOT/compose.yaml \
      exec -T lb deno run -A --cached-only scripts/healthcheck.ts 2>&1; true"
    continue
  fi
  check "$s /readyz (the image's HEALTHCHECK)" '^$' compose exec -T "$s" \
    deno run -A --cached-only scripts/healthcheck.ts
done

# Hermetic: the only names the resolver refused are the check's own (deno.com)
# and, until they are built, the lb's http-api backends. (Deno's update
# check, which asked for dl.deno.land at every start, is off in the image.)
check "no container looked up a name outside the stack" '^$' sh -c \
  "$(printf '%q ' $COMPOSE) -p $PROJECT -f $ROOT/compose.yaml logs --no-color resolver 2>&1 |
   grep -o 'refused [^ :]*' | grep -v -E 'refused (deno\.com|http-api-[12])\.$' | sort -u |
   tr '\n' ' '"

step "data survives a restart (datastore volume)"
check "psql CREATE TABLE + INSERT" 'INSERT 0 1' inns psql -h 127.0.0.1 -p 8004 -U postgres -d postgres \
  -c 'CREATE TABLE e2e (id int primary key, name text)' -c "INSERT INTO e2e VALUES (1, 'kept')"
compose restart datastore >/dev/null 2>&1
for _ in $(seq 1 60); do
  inns psql -h 127.0.0.1 -p 8004 -U postgres -d postgres -tA -c 'SELECT 1' >/dev/null 2>&1 && break
  sleep 1
done
check "psql SELECT after restart" '^kept$' inns psql -h 127.0.0.1 -p 8004 -U postgres -d postgres \
  -tA -c 'SELECT name FROM e2e WHERE id = 1'

step "compose down"
compose down -v --timeout 20 2>&1 | tail -3
echo "every container exited within its stop_grace_period"
