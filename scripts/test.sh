#!/usr/bin/env bash
# Runs Quill's whole test suite on a fresh Debian machine with Go:
# installs the real Kafka clients the end-to-end tests drive (idempotently),
# then vets, unit-tests (with the race detector), fuzzes each decoder of
# untrusted bytes briefly, and runs the end-to-end tests against real
# `quill server` processes.
#
# Environment: FUZZTIME (default 5s per fuzz target), SKIP_FUZZ=1, SKIP_E2E=1,
# QUILL_ARTIFACTS (where the e2e suite leaves screenshots; default
# ./artifacts). Run as root, the e2e tests also cut network links between
# cluster nodes in network namespaces (QUILL_REQUIRE_NETNS=1: they fail
# rather than skip if that is impossible).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v kcat >/dev/null 2>&1 || need_pkgs+=(kcat)
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || need_pkgs+=(python3-confluent-kafka)
/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || need_pkgs+=(python3-kafka)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)          # web console test (headless)
[ -x /usr/bin/Burrow ] || need_pkgs+=(burrow)                          # consumer-lag ecosystem check
[ -f /usr/share/java/zookeeper.jar ] || need_pkgs+=(zookeeper)         # Burrow 1.2 needs a ZooKeeper
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)                 # network namespaces for the network-cut tests
if ((${#need_pkgs[@]})); then
  echo "== installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

echo "== go mod download"
go mod download

echo "== go vet"
go vet ./...

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi

echo "== build"
mkdir -p bin
go build -o bin/quill ./cmd/quill
export QUILL_BIN="$PWD/bin/quill"

echo "== unit tests (race detector)"
go test -race -count=1 $(go list ./... | grep -v /tests/)

echo "== CLI tests against a real quill server"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
clidir=$(mktemp -d)
bin/quill server --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$clidir/data" \
  --override admin.listeners= --override group.initial.rebalance.delay.ms=0 >"$clidir/server.log" 2>&1 &
clipid=$!
trap 'kill "$clipid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
if ! QUILL_TEST_BROKERS="127.0.0.1:$port" go test -count=1 ./internal/cli; then
  echo "--- server log"; tail -50 "$clidir/server.log"; exit 1
fi
kill -TERM "$clipid"; wait "$clipid"
trap - EXIT
rm -rf "$clidir"

# fuzz_one runs one fuzz target. Go's fuzzer sometimes ends a short run
# with "context deadline exceeded" and no failing input (a toolchain quirk
# when -fuzztime expires mid-minimization); that run is repeated once.
# A real failure writes its input under testdata/fuzz and fails.
fuzz_one() {
  local out
  for attempt in 1 2; do
    if out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-5s}" "$1" 2>&1); then
      echo "$out" | tail -1
      return 0
    fi
    echo "$out"
    if ! grep -q 'context deadline exceeded' <<<"$out" || grep -q 'Failing input written' <<<"$out"; then
      return 1
    fi
    echo "(fuzzer timed out without a failing input; running $2 again)"
  done
  return 1
}

if [ "${SKIP_FUZZ:-}" != 1 ]; then
  echo "== fuzz (${FUZZTIME:-5s} per target)"
  for pkg in $(go list ./internal/...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
      echo "-- $pkg $target"
      fuzz_one "$pkg" "$target"
    done
  done
fi

if [ "${SKIP_E2E:-}" != 1 ]; then
  echo "== end-to-end tests (real quill server processes, real clients)"
  export QUILL_ARTIFACTS="${QUILL_ARTIFACTS:-$PWD/artifacts}"
  mkdir -p "$QUILL_ARTIFACTS"
  # The network-cut tests (tests/e2e/cluster_netcut_test.go) need root to
  # create network namespaces; as root they must run, not skip.
  if [ "$(id -u)" = 0 ]; then
    export QUILL_REQUIRE_NETNS=1
  fi
  go test -count=1 -timeout 20m ./tests/...
fi
echo "== all tests passed"
