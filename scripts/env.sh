# shellcheck shell=bash
# Local test environment for Tenantry. Source it, don't execute it:
#
#     source scripts/env.sh        # from bash, anywhere inside the repo
#
# It
#   1. ensures the Python virtualenv .build/venv with the pins of
#      scripts/requirements.txt (skipped when the stamp matches: fast when warm),
#   2. starts a moto server (local DynamoDB, SES, Cognito) on a free 127.0.0.1
#      port, one request at a time (scripts/moto_serial.py says why), logging
#      to .build/moto.log, and stops it when the sourcing shell exits,
#   3. exports AWS_ENDPOINT_URL, fake credentials, the region and
#      TENANTRY_TEST_TABLE, and creates that table from infra/template.yaml.
#
# scripts/test sources this and then runs `cargo test`. In an interactive
# shell, moto runs until that shell exits (or call tenantry_stop_moto).
# Nothing here changes shell options (set -e etc.) of the caller.

if [ -z "${BASH_VERSION:-}" ]; then
  echo "scripts/env.sh: needs bash" >&2
  # shellcheck disable=SC2317 # exit only when executed instead of sourced
  return 1 2>/dev/null || exit 1
fi

TENANTRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TENANTRY_BUILD="$TENANTRY_ROOT/.build"
TENANTRY_VENV="$TENANTRY_BUILD/venv"
TENANTRY_MOTO_LOG="$TENANTRY_BUILD/moto.log"
export TENANTRY_ROOT TENANTRY_VENV

tenantry_log() { printf 'env.sh: %s\n' "$*" >&2; }

# Create/refresh .build/venv. The stamp holds the sha256 of requirements.txt;
# when it matches and the venv's python runs, pip is not touched at all.
tenantry_ensure_venv() {
  local req="$TENANTRY_ROOT/scripts/requirements.txt"
  local stamp="$TENANTRY_VENV/.requirements.sha256"
  local want have=""
  want="$(sha256sum "$req" | cut -d' ' -f1)" || return 1
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  if [ "$want" = "$have" ] && "$TENANTRY_VENV/bin/python" -c '' 2>/dev/null; then
    return 0
  fi

  mkdir -p "$TENANTRY_BUILD" || return 1
  (
    # Serialise concurrent runs (two `scripts/test` at once) on the venv.
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$TENANTRY_BUILD/venv.lock" && flock 9
    fi
    have=""
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    if [ "$want" = "$have" ] && "$TENANTRY_VENV/bin/python" -c '' 2>/dev/null; then
      exit 0 # another run finished it while we waited
    fi
    local py="${TENANTRY_PYTHON:-python3}"
    if ! "$TENANTRY_VENV/bin/python" -c '' 2>/dev/null; then
      rm -rf "$TENANTRY_VENV"
      tenantry_log "creating $TENANTRY_VENV"
      if ! "$py" -m venv "$TENANTRY_VENV"; then
        tenantry_log "'$py -m venv' failed; falling back to virtualenv"
        rm -rf "$TENANTRY_VENV"
        "$py" -m virtualenv --version >/dev/null 2>&1 \
          || "$py" -m pip install --user --quiet virtualenv || exit 1
        "$py" -m virtualenv --quiet "$TENANTRY_VENV" || exit 1
      fi
    fi
    tenantry_log "installing scripts/requirements.txt into .build/venv"
    "$TENANTRY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$req" || exit 1
    printf '%s\n' "$want" >"$stamp"
  )
}

tenantry_free_port() {
  "$TENANTRY_VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Wait (bounded) until moto answers HTTP on $1, giving up early if pid $2 died.
tenantry_wait_moto() {
  "$TENANTRY_VENV/bin/python" - "$1" "$2" "${TENANTRY_MOTO_TIMEOUT:-30}" <<'PY'
import os, sys, time, urllib.request, urllib.error
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(3)  # moto exited (e.g. port taken)
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP answer means the server is up
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# Runs from the EXIT trap, possibly under the caller's `set -e`: every command
# that may fail (kill/wait on a process already gone) is guarded with `|| true`
# so the trap never changes the exit code (e.g. cargo's).
tenantry_stop_moto() {
  if [ -n "${TENANTRY_MOTO_WATCHDOG_PID:-}" ]; then
    kill "$TENANTRY_MOTO_WATCHDOG_PID" 2>/dev/null || true
    wait "$TENANTRY_MOTO_WATCHDOG_PID" 2>/dev/null || true
    unset TENANTRY_MOTO_WATCHDOG_PID
  fi
  if [ -n "${TENANTRY_MOTO_PID:-}" ]; then
    if kill "$TENANTRY_MOTO_PID" 2>/dev/null; then
      local _
      for _ in $(seq 1 50); do
        kill -0 "$TENANTRY_MOTO_PID" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$TENANTRY_MOTO_PID" 2>/dev/null || true
    fi
    wait "$TENANTRY_MOTO_PID" 2>/dev/null || true
    unset TENANTRY_MOTO_PID TENANTRY_MOTO_PORT
  fi
  return 0
}

tenantry_start_moto() {
  if [ -n "${TENANTRY_MOTO_PID:-}" ] && kill -0 "$TENANTRY_MOTO_PID" 2>/dev/null; then
    return 0 # already running (env.sh sourced twice)
  fi
  local attempt port pid rc
  for attempt in 1 2 3; do
    port="$(tenantry_free_port)" || return 1
    "$TENANTRY_VENV/bin/python" "$TENANTRY_ROOT/scripts/moto_serial.py" 127.0.0.1 "$port" \
      >"$TENANTRY_MOTO_LOG" 2>&1 </dev/null &
    pid=$!
    rc=0
    tenantry_wait_moto "http://127.0.0.1:$port" "$pid" || rc=$?
    if [ "$rc" -eq 0 ]; then
      TENANTRY_MOTO_PID=$pid
      TENANTRY_MOTO_PORT=$port
      # If this shell dies without running its EXIT trap (SIGKILL), don't
      # leave moto behind: a watchdog stops it once the shell is gone.
      (
        trap - EXIT INT TERM
        while kill -0 "$$" 2>/dev/null; do sleep 2; done
        kill "$pid" 2>/dev/null
      ) >/dev/null 2>&1 </dev/null &
      TENANTRY_MOTO_WATCHDOG_PID=$!
      trap tenantry_stop_moto EXIT
      return 0
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$rc" -ne 3 ]; then
      tenantry_log "moto did not answer on port $port within ${TENANTRY_MOTO_TIMEOUT:-30}s; see $TENANTRY_MOTO_LOG"
      tail -n 20 "$TENANTRY_MOTO_LOG" >&2
      return 1
    fi
    tenantry_log "moto exited at start (attempt $attempt, port $port); retrying"
  done
  tail -n 20 "$TENANTRY_MOTO_LOG" >&2
  return 1
}

tenantry_env_up() {
  tenantry_ensure_venv || { tenantry_log "virtualenv setup failed"; return 1; }
  tenantry_start_moto || { tenantry_log "could not start moto"; return 1; }

  export AWS_ENDPOINT_URL="http://127.0.0.1:$TENANTRY_MOTO_PORT"
  export AWS_ACCESS_KEY_ID=testing
  export AWS_SECRET_ACCESS_KEY=testing
  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
  export TENANTRY_TEST_TABLE=tenantry-test
  # Keep a developer's real AWS profile/session out of the tests.
  unset AWS_SESSION_TOKEN AWS_PROFILE

  "$TENANTRY_VENV/bin/python" "$TENANTRY_ROOT/scripts/create_table.py" "$TENANTRY_TEST_TABLE" \
    || { tenantry_log "creating table $TENANTRY_TEST_TABLE failed"; return 1; }
  tenantry_log "moto on $AWS_ENDPOINT_URL (pid $TENANTRY_MOTO_PID), table $TENANTRY_TEST_TABLE"
}

# TENANTRY_ENV_VENV_ONLY=1: the virtualenv only, no moto (scripts/fuzz).
if [ "${TENANTRY_ENV_VENV_ONLY:-}" = 1 ]; then
  tenantry_ensure_venv || return 1 2>/dev/null || exit 1
else
  tenantry_env_up || return 1 2>/dev/null || exit 1
fi
