#!/usr/bin/env bash
# demo.sh [--nomad] | stop
#
# Starts everything dts needs on this machine and shows rows flowing: a throwaway MariaDB with
# the seed API's sample tables, the dev Kafka broker, and dts itself (`dts dev`, or with --nomad
# real Consul and Nomad agents from ./bin and `dts dispatcher`). It submits a task with the
# seed's curl, writes rows, prints the Kafka messages and the task list, and leaves everything
# running. `demo.sh stop` (make demo-stop) stops it all. State lives in ./dts-data/demo.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
state="$root/dts-data/demo"
MYSQL_PORT=${DTS_DEMO_MYSQL_PORT:-5306}
KAFKA_PORT=${DTS_DEMO_KAFKA_PORT:-9092}
API_PORT=${DTS_DEMO_API_PORT:-8080}
CONSUL_PORT=${DTS_DEMO_CONSUL_PORT:-8500}
NOMAD_PORT=${DTS_DEMO_NOMAD_PORT:-4646}
AUTH='Authorization:Basic cmVwbGljYXRvcjpkdHNmb3IzLjE0MTU5MjY='
API="http://127.0.0.1:$API_PORT"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

stop_proc() { # name signal
  if alive "$1"; then
    local pid; pid=$(cat "$state/$1.pid")
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$state/$1.pid"
}

stop_all() {
  [ -d "$state" ] || return 0
  if alive nomad; then
    # Stop the workers before the agent: raw_exec tasks outlive a stopped agent.
    export NOMAD_ADDR="http://127.0.0.1:$NOMAD_PORT"
    for job in $(bin/nomad job status -short 2>/dev/null | awk '/^dts-/{print $1}'); do
      bin/nomad job stop -purge -detach "$job" >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 150); do
      running=$(bin/nomad job status -short 2>/dev/null | awk '/^dts-/' | wc -l)
      [ "$running" = 0 ] && break
      sleep 0.2
    done
  fi
  stop_proc dts TERM
  stop_proc nomad INT
  stop_proc consul INT
  stop_proc devkafka TERM
  stop_proc mariadb TERM
  # The Nomad client's secrets/ and private/ tmpfs mounts stay until unmounted.
  if [ -d "$state/nomad" ]; then
    awk -v d="$state/nomad/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
}

if [ "${1:-}" = stop ]; then
  stop_all
  echo "demo stopped"
  exit 0
fi
mode=dev
[ "${1:-}" = --nomad ] && mode=nomad

start() { # name logfile command...
  local name=$1 log=$2; shift 2
  setsid "$@" >"$log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

wait_for() { # what seconds command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up in ${secs}s (logs in $state)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_all
rm -rf "$state"
mkdir -p "$state"
for p in "$MYSQL_PORT" "$KAFKA_PORT" "$API_PORT"; do
  port_free "$p" || die "port $p is in use; free it or set DTS_DEMO_*_PORT"
done
[ -x bin/dts ] && [ -x bin/devkafka ] || die "run it through make demo (it builds bin/dts)"

say "MariaDB on 127.0.0.1:$MYSQL_PORT (ROW binlog, GTIDs, full row metadata)"
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
installdb=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
userflag=(); [ "$(id -u)" = 0 ] && userflag=(--user=root)
"$installdb" --no-defaults --datadir="$state/mysql" --auth-root-authentication-method=normal --skip-test-db "${userflag[@]}" >"$state/mariadb-install.log" 2>&1 ||
  die "mariadb-install-db failed: see $state/mariadb-install.log"
start mariadb "$state/mariadb.log" "$mariadbd" --no-defaults --datadir="$state/mysql" --socket="$state/mysqld.sock" \
  --pid-file="$state/mysqld.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
  --log-bin="$state/mysql/mysql-bin" --binlog-format=ROW --binlog-row-metadata=FULL --server-id=1 "${userflag[@]}"
sql() { mariadb --no-defaults -uroot --socket="$state/mysqld.sock" "$@"; }
wait_for MariaDB 60 sql -e 'SELECT 1'
sql <<'SQL'
CREATE USER 'xes_replicator'@'127.0.0.1' IDENTIFIED BY 'IYQBXGil84d44ee92cLjLHankV2rVyCg+';
GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'xes_replicator'@'127.0.0.1';
CREATE DATABASE oa_data_service;
CREATE TABLE oa_data_service.xes_class_students_1 (id INT PRIMARY KEY, name VARCHAR(40), score DECIMAL(5,1), updated_at DATETIME(3));
CREATE TABLE oa_data_service.xes_class_students_2 LIKE oa_data_service.xes_class_students_1;
CREATE TABLE oa_data_service.check_delay (id INT PRIMARY KEY, ts DATETIME(6));
CREATE TABLE oa_data_service.not_streamed (id INT PRIMARY KEY);
SQL

say "dev Kafka broker on 127.0.0.1:$KAFKA_PORT (kfake; a dev/test broker, not for production)"
start devkafka "$state/devkafka.log" bin/devkafka --listen "127.0.0.1:$KAFKA_PORT" --partitions 3 --data-dir "$state/kafka"
wait_for devkafka 30 grep -q ready "$state/devkafka.log"

if [ $mode = dev ]; then
  say "dts dev on $API (embedded store in $state/dts, workers in-process)"
  start dts "$state/dts.log" bin/dts dev --listen "127.0.0.1:$API_PORT" --data-dir "$state/dts"
else
  say "Consul on 127.0.0.1:$CONSUL_PORT and Nomad on 127.0.0.1:$NOMAD_PORT (dev agents from ./bin)"
  [ -x bin/consul ] && [ -x bin/nomad ] || die "bin/consul and bin/nomad are missing: run make deps"
  for p in "$CONSUL_PORT" "$NOMAD_PORT"; do port_free "$p" || die "port $p is in use"; done
  start consul "$state/consul.log" bin/consul agent -dev -config-file deploy/consul/dev.hcl \
    -hcl "ports { http = $CONSUL_PORT, dns = -1, grpc = -1, grpc_tls = -1 }"
  export CONSUL_HTTP_ADDR="127.0.0.1:$CONSUL_PORT" NOMAD_ADDR="http://127.0.0.1:$NOMAD_PORT"
  wait_for Consul 60 sh -c "curl -sf $CONSUL_HTTP_ADDR/v1/status/leader | grep -q :"
  cat >"$state/nomad.hcl" <<HCL
data_dir = "$state/nomad"
ports {
  http = $NOMAD_PORT
}
consul {
  address = "$CONSUL_HTTP_ADDR"
}
HCL
  start nomad "$state/nomad.log" env -u AWS_CA_BUNDLE bin/nomad agent -config deploy/nomad/dev.hcl -config "$state/nomad.hcl"
  wait_for Nomad 90 sh -c "bin/nomad node status -self 2>/dev/null | grep -q ready || bin/nomad node status 2>/dev/null | grep -q ready"
  wait_for "Nomad keyring" 60 bin/nomad var put -force dts-demo/probe k=v
  bin/nomad var purge dts-demo/probe >/dev/null 2>&1 || true
  say "dts dispatcher on $API (tasks in Consul KV under dts/, one Nomad job per task)"
  start dts "$state/dts.log" bin/dts dispatcher --listen "127.0.0.1:$API_PORT" --auth-user replicator \
    --auth-password dtsfor3.1415926 --worker-command "$root/bin/dts" --log-format text
fi
wait_for dts 60 curl -sf "$API/healthz"

say "submit a task (the seed API's curl, addresses adapted)"
body='{"task":{"source":{"host":"127.0.0.1","port":'$MYSQL_PORT',"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"},"kafka":{"addr":"127.0.0.1:'$KAFKA_PORT'","topic":"replicator_test","flat_format":false},"filters":[{"dbname":"oa_data_service","match":"/xes_class_students_\\d+/","filter":""},{"dbname":"oa_data_service","match":"check_delay","filter":""}],"incr":true}}'
echo "curl -i -XPOST -H 'content-type:application/json' -H '$AUTH' -d '$body' '$API/v1/dispatch/submit'"
curl -sS -i -XPOST -H 'content-type:application/json' -H "$AUTH" -d "$body" "$API/v1/dispatch/submit"
echo

state_of_task() { curl -sf -H "$AUTH" "$API/v1/task/list?per_page=5&page=1"; }
wait_for "a Running task" 90 sh -c "curl -sf -H '$AUTH' '$API/v1/task/list?per_page=5&page=1' | grep -q '\"state\":\"Running\"'"

say "write sample rows"
sql <<'SQL'
INSERT INTO oa_data_service.xes_class_students_1 VALUES (1, 'Ada', 98.5, NOW(3)), (2, 'Grace', 91.0, NOW(3));
INSERT INTO oa_data_service.xes_class_students_2 VALUES (10, 'Linus', 77.0, NOW(3));
UPDATE oa_data_service.xes_class_students_1 SET score = 99.0, updated_at = NOW(3) WHERE id = 1;
DELETE FROM oa_data_service.xes_class_students_2 WHERE id = 10;
INSERT INTO oa_data_service.check_delay VALUES (1, NOW(6));
INSERT INTO oa_data_service.not_streamed VALUES (1);
SQL
echo "3 inserts, 1 update and 1 delete into matched tables; 1 insert into a table no filter matches"
wait_for "the messages" 60 sh -c "curl -sf -H '$AUTH' '$API/v1/task/list' | grep -q '\"rows_sent\":[6-9]'"

say "Kafka topic replicator_test"
bin/devkafka consume --brokers "127.0.0.1:$KAFKA_PORT" --topic replicator_test

say "task list: curl -H '$AUTH' '$API/v1/task/list?per_page=5&page=1'"
state_of_task
echo
echo
DTS_ADDR="$API" DTS_AUTH_USER=replicator DTS_AUTH_PASSWORD=dtsfor3.1415926 bin/dts task list

say "everything keeps running"
cat <<TXT
  API        $API   (Basic auth replicator / dtsfor3.1415926, the seed's test credentials)
  MariaDB    mariadb --no-defaults -uroot --socket=$state/mysqld.sock     (or 127.0.0.1:$MYSQL_PORT as xes_replicator)
  Kafka      bin/devkafka consume --brokers 127.0.0.1:$KAFKA_PORT --topic replicator_test
  tasks      DTS_AUTH_USER=replicator DTS_AUTH_PASSWORD=dtsfor3.1415926 bin/dts task list
  logs       $state/*.log
TXT
[ $mode = nomad ] && echo "  Nomad      NOMAD_ADDR=$NOMAD_ADDR bin/nomad job status dts-task-1     Consul UI: http://$CONSUL_HTTP_ADDR/ui/dc1/kv/dts/"
echo
echo "Stop with: make demo-stop"
