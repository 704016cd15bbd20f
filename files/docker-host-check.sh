#!/usr/bin/env bash
# Postconditions of a Docker host, checked by ./bootstrap and by the docker role after every install or start:
#   1. the engine package is installed (dpkg status "ii", not removed by a conflicting CLI package),
#   2. docker-proxy exists (without it the first published port fails),
#   3. `docker compose version` is v2 or later,
#   4. the daemon answers,
#   5. a container with a port published on 127.0.0.1 answers over HTTP.
# The probe image is made on the spot from the host's own busybox and its libraries (no registry needed).
# Prints one line per check; on the first failure, a clear message on stderr and exit 1.
# Usage: docker-host-check.sh [ENGINE_PACKAGE]   (default docker.io; docker-ce for Docker's own repository)
set -uo pipefail
engine_pkg="${1:-docker.io}"
probe_image="ai-alerting/host-probe:busybox"
probe_name="ai-alerting-host-probe-$$"

fail() { echo "docker-host-check: FAILED: $*" >&2; docker rm -f "$probe_name" >/dev/null 2>&1; exit 1; }
ok() { echo "docker-host-check: ok: $*"; }

status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$engine_pkg" 2>/dev/null | tr -d ' ')
[ "$status" = "ii" ] || fail "package $engine_pkg is not installed (dpkg status '${status:-unknown}'); was it removed by a conflicting docker-cli?"
ok "package $engine_pkg installed"

proxy=$(command -v docker-proxy || ls /usr/libexec/docker/docker-proxy /usr/sbin/docker-proxy 2>/dev/null | head -n1)
[ -n "$proxy" ] && [ -x "$proxy" ] || fail "docker-proxy not found: published ports would fail"
ok "docker-proxy at $proxy"

compose=$(docker compose version --short 2>/dev/null) || fail "'docker compose' (Compose v2 plugin) is missing"
[ "${compose#v}" != "$compose" ] && compose=${compose#v}
[ "${compose%%.*}" -ge 2 ] 2>/dev/null || fail "docker compose version is '$compose', Compose v2 or later is required"
ok "docker compose $compose"

server=$(docker info --format '{{.ServerVersion}}' 2>/dev/null) || fail "the Docker daemon does not answer"
ok "dockerd $server answers"

if ! docker image inspect "$probe_image" >/dev/null 2>&1; then
  bb=$(command -v busybox) || fail "busybox is needed to build the probe image (apt-get install busybox)"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www"
  cp "$bb" "$root/bin/busybox"
  # The dynamic loader and libraries busybox needs, at their own paths (none for busybox-static).
  for lib in $(ldd "$bb" 2>/dev/null | grep -o '/[^ ]*'); do mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; done
  echo probe-ok >"$root/www/index.html"
  tar -C "$root" -c . | docker import - "$probe_image" >/dev/null || { rm -rf "$root"; fail "could not import the probe image"; }
  rm -rf "$root"
fi
docker run -d --name "$probe_name" -p 127.0.0.1::8080 "$probe_image" /bin/busybox httpd -f -p 8080 -h /www >/dev/null \
  || fail "could not start a container with a port published on 127.0.0.1 (see the daemon's log)"
port=$(docker port "$probe_name" 8080/tcp | head -n1 | sed 's/.*://')
body=""
for _ in $(seq 1 50); do
  body=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null | tail -n1)
  [ "$body" = "probe-ok" ] && break
  sleep 0.1
done
docker rm -f "$probe_name" >/dev/null 2>&1
[ "$body" = "probe-ok" ] || fail "a container published on 127.0.0.1:$port did not answer"
ok "container published on 127.0.0.1:$port answers"
