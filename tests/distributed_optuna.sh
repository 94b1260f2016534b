#!/usr/bin/env bash
# Distributed RL Zoo hyperparameter search for OGPO on a PostgreSQL Optuna storage.
#
# Starts a throwaway PostgreSQL server (127.0.0.1 only, a free port, password auth, data in a temp
# dir), runs two `python -m rl_zoo3.train --algo ogpo -optimize` workers on ONE study concurrently,
# checks with optuna that every trial is recorded exactly once (none lost, none left RUNNING) and
# that the best trial reloads with `--trial-id`, then stops the server and deletes everything.
#
# Needs the package installed (the RL Zoo hook), psycopg2 and PostgreSQL; installs PostgreSQL with
# apt-get when it is missing and we are root. Exit status 77 means "cannot run here" (skip).
#
# Environment: PYTHON (default: python), N_TRIALS per worker (2), N_TIMESTEPS per trial (400),
# KEEP_TMP=1 keeps the temp dir for inspection.
set -euo pipefail

PYTHON=${PYTHON:-python}
N_TRIALS=${N_TRIALS:-2}
N_TIMESTEPS=${N_TIMESTEPS:-400}
ENV_ID=PointMassMultimodal-v0
STUDY=ogpo-distributed-test
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONWARNINGS=ignore

skip() { echo "SKIP: $*" >&2; exit 77; }

"$PYTHON" -c "import psycopg2" 2>/dev/null || skip "psycopg2 is not installed (pip install psycopg2-binary)"
"$PYTHON" -c "import rl_zoo3, sys; sys.exit('ogpo' not in rl_zoo3.ALGOS)" 2>/dev/null \
    || skip "the sb3_ogpo RL Zoo hook is not active (pip install -e .)"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || skip "PostgreSQL is missing and cannot be installed"
    echo "Installing PostgreSQL..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
        || skip "apt-get install postgresql failed"
fi
PG_BIN=$(pg_bin)
[ -n "$PG_BIN" ] || skip "no PostgreSQL server binaries"

TMP=$(mktemp -d /tmp/ogpo-optuna-pg.XXXXXX)
chmod 755 "$TMP"
PG=$TMP/pg  # everything the server writes: data, socket, log
DATA=$PG/data
SOCK=$PG/sock
mkdir -p "$DATA" "$SOCK"
# The server refuses to run as root: run it as the `postgres` user when we are root.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || skip "no postgres system user"
    chown -R postgres "$PG"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

SERVER_STARTED=0
cleanup() {
    local status=$?
    if [ "$SERVER_STARTED" = 1 ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    for pid in ${WORKER_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
    exit $status
}
trap cleanup EXIT

PASSWORD=$("$PYTHON" -c "import secrets; print(secrets.token_hex(16))")
PORT=$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
echo "$PASSWORD" > "$TMP/pwfile"
chmod 644 "$TMP/pwfile"

as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --pwfile="$TMP/pwfile" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 -E UTF8 >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
rm -f "$TMP/pwfile"
as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$PG/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCK" start >/dev/null \
    || { cat "$PG/server.log"; exit 1; }
SERVER_STARTED=1
echo "PostgreSQL server ($PG_BIN) on 127.0.0.1:$PORT"

export PGPASSWORD=$PASSWORD
"$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -q -c "CREATE DATABASE ogpo_optuna" >/dev/null
unset PGPASSWORD
# The plain URL users type: SQLAlchemy 2.1 maps postgresql:// to psycopg 3 (the `zoo` extra installs it).
URL="postgresql://postgres:$PASSWORD@127.0.0.1:$PORT/ogpo_optuna"

# Create the schema and the study once: two workers creating Optuna's tables at the same moment on an
# empty database can collide (the zoo then loads the existing study: load_if_exists=True).
"$PYTHON" -c "import optuna, sys; optuna.create_study(storage=sys.argv[1], study_name=sys.argv[2], direction='maximize')" \
    "$URL" "$STUDY" >"$TMP/create_study.log" 2>&1 || { cat "$TMP/create_study.log"; exit 1; }

WORKER_PIDS=""
for worker in 1 2; do
    "$PYTHON" -m rl_zoo3.train --algo ogpo --env "$ENV_ID" -optimize --n-trials "$N_TRIALS" -n "$N_TIMESTEPS" \
        --n-evaluations 1 --eval-episodes 3 --storage "$URL" --study-name "$STUDY" --sampler random \
        --pruner none --no-optim-plots --seed "$worker" -f "$TMP/logs_$worker" \
        -params init_policy:None learning_starts:100 >"$TMP/worker_$worker.log" 2>&1 &
    WORKER_PIDS="$WORKER_PIDS $!"
done
status=0
for pid in $WORKER_PIDS; do wait "$pid" || status=1; done
WORKER_PIDS=""
if [ "$status" != 0 ]; then
    for worker in 1 2; do echo "--- worker $worker"; tail -n 40 "$TMP/worker_$worker.log"; done
    exit 1
fi

# Every trial recorded once, none lost or left running; print the best trial's number.
BEST=$("$PYTHON" - "$URL" "$STUDY" "$N_TRIALS" <<'EOF'
import sys

import optuna
from optuna.trial import TrialState

url, study_name, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
study = optuna.load_study(study_name=study_name, storage=url)
trials = study.get_trials(deepcopy=False)
numbers = sorted(t.number for t in trials)
expected = 2 * n_trials
assert len(trials) == expected, f"{len(trials)} trials recorded, expected {expected}"
assert numbers == list(range(expected)), f"trial numbers {numbers}"
assert len({t._trial_id for t in trials}) == expected, "duplicate trial ids"
states = [t.state for t in trials]
assert all(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states), states
complete = [t for t in trials if t.state == TrialState.COMPLETE]
assert complete, "no trial completed"
for t in complete:
    assert 0.0 <= t.value <= 1.0, t.value  # a success rate
    assert t.user_attrs.get("metric") == "success_rate", t.user_attrs
print(study.best_trial.number)
print(f"{len(trials)} trials, {len(complete)} complete, best #{study.best_trial.number}", file=sys.stderr)
EOF
)
grep -h "Trial [0-9]* finished\|Trial [0-9]* pruned" "$TMP"/worker_*.log | sed 's/ and parameters.*//' >&2 || true

# The best trial reloads through the zoo's --trial-id.
"$PYTHON" -m rl_zoo3.train --algo ogpo --env "$ENV_ID" --storage "$URL" --study-name "$STUDY" --trial-id "$BEST" \
    -n 20 --eval-freq -1 -f "$TMP/reload" -params init_policy:None learning_starts:100 >"$TMP/reload.log" 2>&1 \
    || { tail -n 40 "$TMP/reload.log"; exit 1; }
grep -q "Loading from Optuna study" "$TMP/reload.log" || { echo "--trial-id $BEST was not loaded"; exit 1; }
"$PYTHON" - "$URL" "$STUDY" "$BEST" "$TMP/reload" "$ENV_ID" <<'EOF'
import glob
import sys

import optuna
import yaml

url, study_name, best, folder, env_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
params = optuna.load_study(study_name=study_name, storage=url).trials[best].params
(config_path,) = glob.glob(f"{folder}/ogpo/{env_id}_*/{env_id}/config.yml")
with open(config_path) as f:
    config = dict(yaml.load(f, Loader=yaml.UnsafeLoader))
for key, value in params.items():
    assert config[key] == value, (key, config[key], value)
print(f"best trial #{best} reloaded with --trial-id: {len(params)} params match")
EOF
echo "OK"
