#!/usr/bin/env bash
# One Apache Kafka broker (KRaft, combined broker+controller, no ZooKeeper, no Docker) for development,
# tests and CI. Needs only Java 17+ and Maven: the jars come from Maven Central through `mvn`, once, into a
# cache directory shared by every checkout.
#
#   scripts/kafka.sh start [--port N]   fetch (first time), format storage (first time), start, wait until ready
#   scripts/kafka.sh stop               stop cleanly (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds)
#   scripts/kafka.sh status             exit 0 and print the address when running, exit 3 when not
#   scripts/kafka.sh fetch              only fetch the jars
#
# Environment:
#   KAFKA_PORT             client port on 127.0.0.1 (default 9092; --port wins)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default client port + 1)
#   KAFKA_STATE_DIR        data, logs, config and PID file (default <repo>/.cache/kafka)
#   KAFKA_CACHE_DIR        where the jars go (default ${XDG_CACHE_HOME:-~/.cache}/eventplatform/kafka)
#   KAFKA_VERSION          Apache Kafka version (default 4.1.1), Scala 2.13 build
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx512m)
#   KAFKA_MESSAGE_MAX_BYTES  the broker's message.max.bytes (default Kafka's 1048588)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean stop (default 30)
#   KAFKA_WATCH_PID        stop the broker when this process is gone (the test fixture sets it)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="2.24.3"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventplatform/kafka}"
LIB_DIR="$CACHE_ROOT/$KAFKA_VERSION/libs"
STATE_DIR="${KAFKA_STATE_DIR:-$REPO_ROOT/.cache/kafka}"
PORT="${KAFKA_PORT:-9092}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

cmd="${1:-}"
[ -n "$cmd" ] || die "usage: kafka.sh start|stop|status|fetch [--port N]"
shift
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT="${2:?--port needs a value}"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        *) die "unknown option $1" ;;
    esac
done
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PID_FILE="$STATE_DIR/kafka.pid"
LOG_FILE="$STATE_DIR/logs/server.log"

# --- fetch ----------------------------------------------------------------------------------------------
fetch() {
    [ -f "$LIB_DIR/.complete" ] && return 0
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars from Maven Central"
    command -v java >/dev/null || die "Java 17+ is needed to run Kafka"
    mkdir -p "$CACHE_ROOT"
    # Two test processes may start at once: only one of them fetches.
    exec 9>"$CACHE_ROOT/.fetch.lock"
    if command -v flock >/dev/null; then flock 9; fi
    if [ -f "$LIB_DIR/.complete" ]; then return 0; fi
    local work
    work="$(mktemp -d "$CACHE_ROOT/.fetch.XXXXXX")"
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eventplatform.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- Kafka logs through slf4j 1.7: route it to log4j2 so the broker writes a server.log -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION from Maven Central into $LIB_DIR" >&2
    if ! (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$work/libs" >"$work/mvn.log" 2>&1); then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    fi
    rm -rf "$LIB_DIR"
    mkdir -p "$(dirname "$LIB_DIR")"
    mv "$work/libs" "$LIB_DIR"
    rm -rf "$work"
    touch "$LIB_DIR/.complete"
}

# --- helpers --------------------------------------------------------------------------------------------
running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # a stale PID file whose number now belongs to another process does not count
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka"; then
        return 1
    fi
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

metadata_ok() {
    # A Kafka Metadata v4 request (all topics) over bash's /dev/tcp, no client tools needed: the broker is
    # ready when it answers with our correlation id and at least one broker.
    local out
    out="$(
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf '\x00\x00\x00\x17\x00\x03\x00\x04\x00\x00\x00\x07\x00\x08kafka.sh\xff\xff\xff\xff\x00' >&3
        timeout 2 head -c 16 <&3 | od -An -tx1 | tr -d ' \n'
    )" 2>/dev/null || return 1
    [ "${#out}" -eq 32 ] && [ "${out:8:8}" = "00000007" ] && [ "${out:24:8}" != "00000000" ]
}

java_args() {
    # shellcheck disable=SC2206
    JAVA_ARGS=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties"
        -Dkafka.logs.dir="$STATE_DIR/logs" -cp "$LIB_DIR/*")
}

java_cmd() { java_args; java "${JAVA_ARGS[@]}" "$@"; }

write_config() {
    mkdir -p "$STATE_DIR/logs" "$STATE_DIR/data"
    cat >"$STATE_DIR/server.properties" <<EOF
# generated by scripts/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE_DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a development broker: after a crash (SIGKILL) it re-registers once its old session expired; 3 s, not 9 s
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
message.max.bytes=${KAFKA_MESSAGE_MAX_BYTES:-1048588}
num.network.threads=2
num.io.threads=4
log.retention.hours=168
EOF
    cat >"$STATE_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG_FILE
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

# --- commands -------------------------------------------------------------------------------------------
start() {
    if running_pid >/dev/null; then
        status
        return 0
    fi
    for p in "$PORT" "$CONTROLLER_PORT"; do
        if port_open "$p"; then die "port $p on 127.0.0.1 is already taken by another process"; fi
    done
    fetch
    write_config
    if [ ! -f "$STATE_DIR/data/meta.properties" ]; then
        local cluster_id
        cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$STATE_DIR/logs/format.log")"
        java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE_DIR/server.properties" \
            >>"$STATE_DIR/logs/format.log" 2>&1 || { cat "$STATE_DIR/logs/format.log" >&2; die "format failed"; }
    fi
    : >"$LOG_FILE"
    # setsid: the broker outlives the shell that started it (make, a pytest fixture) and its signals.
    # The background child is never a process-group leader, so setsid execs java in place and $! is its pid.
    java_args
    setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$STATE_DIR/server.properties" \
        </dev/null >"$STATE_DIR/logs/stdout.log" 2>&1 &
    echo $! >"$PID_FILE"
    if [ -n "${KAFKA_WATCH_PID:-}" ]; then
        # tests: the broker must not outlive a killed test run
        local broker_pid
        broker_pid="$(cat "$PID_FILE")"
        setsid bash -c "while kill -0 $KAFKA_WATCH_PID 2>/dev/null && kill -0 $broker_pid 2>/dev/null; do
            sleep 1; done; kill -TERM $broker_pid 2>/dev/null" </dev/null >/dev/null 2>&1 &
    fi
    local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
    local pid
    pid="$(cat "$PID_FILE")"
    while [ $SECONDS -lt $deadline ]; do
        # kill -0, not running_pid: until setsid has exec'ed java, the command line is still ours
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$STATE_DIR/logs/stdout.log" "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "the broker exited during startup (logs in $STATE_DIR/logs)"
        fi
        # Ready = the broker says it started and answers a metadata request naming itself.
        if grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null && metadata_ok "$PORT"; then
            echo "kafka.sh: Apache Kafka $KAFKA_VERSION running on 127.0.0.1:$PORT (pid $(cat "$PID_FILE"))"
            return 0
        fi
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true  # do not leave a half-started broker behind
    rm -f "$PID_FILE"
    die "the broker did not become ready within ${KAFKA_START_TIMEOUT:-60}s (logs in $STATE_DIR/logs)"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        echo "kafka.sh: not running"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "kafka.sh: no clean stop within ${KAFKA_STOP_TIMEOUT:-30}s, killing $pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE"
    echo "kafka.sh: stopped"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        local port
        port="$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$STATE_DIR/server.properties")"
        echo "kafka.sh: running (pid $pid) on 127.0.0.1:$port"
        return 0
    fi
    echo "kafka.sh: not running"
    return 3
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    fetch) fetch ;;
    *) die "unknown command $cmd (start|stop|status|fetch)" ;;
esac
