#!/usr/bin/env bash
# The paper's testbed experiment, end to end on this machine (docs/results.md "Testbed",
# docs/fidelity.md): make a zoo of real models, profile it (with interference), generate a
# Zipf trace over them, then RUNS times, alternating the policies inside each round so drift
# hits them alike: start `brulee serve` with memory = MEMORY_FRACTION of the zoo's measured
# loaded bytes, replay the trace, stop it, and run `brulee simulate --parallel-load` on the same
# trace and catalog. Each run records the load average and the CPU other processes used while
# it ran, and is flagged busy when they took more than BUSY_SHARE of the machine.
#
#   experiments/testbed.sh [--quick] [--format onnx|torchscript] [--out DIR] [--brulee BINARY]
#                          [--policies LIST] [--runs N]
#
# --quick: 6 small models profiled twice, 2 policies (random, cremebrulee), a 30 s trace, 3 runs (about 4
# minutes). Default: 12 models, 7 policies, a 90 s trace, 3 runs (38-40 minutes here).
# The rate is 2 requests/s, 4 in the full ONNX run.
# Writes DIR/results.md, DIR/summary.json, DIR/runs.csv, per-request files DIR/runs/*.csv.
# Env: POPULARITY (zipf|azure), RATE (requests/s), DURATION (s), MEMORY_FRACTION (0.5), SEED,
# CROWD (the profile's --crowd; default: the memory fraction of the models, less one),
# BUSY_SHARE (0.15), WAIT_QUIET (seconds to wait for a quiet machine before each run; 0),
# RETRY_BUSY (times a run flagged busy is run again; 0), EXEC_THREADS (1), LOADER_THREADS (1),
# INTRA_OP_THREADS (0 = all cores; the profile's --threads too), EXEC_CPUS and LOAD_CPUS (the
# server's and the profile's --exec-cpus and --load-cpus, e.g. 1 and 0: disjoint thread budgets;
# they need INTRA_OP_THREADS=1; the replay client then runs on LOAD_CPUS too),
# LEARN_RATE (the server's --learn-rate; 0: its policy ranks by the profile's figures, as the
# simulator's does), MAX_INFLIGHT (2GiB), INPUTS (binary: raw tensor bytes, the REST binary data extension; json:
# JSON lists, about 1.5 MB a request, which the server parses beside the inferences),
# PROFILE_EACH_ROUND (1: profile again before every round after the first, with the same
# options, and give that round's server and simulator the new catalog: the profile nearest the
# runs, on a machine whose speed drifts from one minute to the next; 0, the default: one profile),
# PROFILE_LOADS (the profile's --loads, timed warm reloads per model a round: 3),
# PROFILE_SPREAD (1, the default of the full run: the profile's runs spread over the testbed, 3
# (PROFILE_RUNS) before the first round, whose catalog the servers are given, and one after every
# round (without the interference measurements, which keep the first profile's ratios); each run
# is simulated after the last round with the servers' catalog for its policy's ranking and the
# loads, inferences and unloads timed by the mean over all of them (experiments/spread_profile.py),
# the machine's speed over the testbed's minutes rather than over the profile's; 0, the default of
# --quick: one profile, before the runs; docs/fidelity.md, "The profile spread over the testbed"),
# SPEED_PROBE (the machine's speed sampler, bench/runtime/speed_probe beside the brulee binary by
# default: it samples every 2 s while the profile and each run go, into DIR/profile.probe and
# DIR/runs/*.probe; experiments/machine_speed.py reads them; none: not sampled),
# FIRST_LOADS (concurrent, the default: the server, given the profiled catalog, loads a model
# the first time beside inferences, and the simulator models it so; isolated: each model's
# first load runs alone, as a server without the profiled sizes measures them; docs/server.md,
# "First loads beside inferences"), SIM_TIMING, SIM_SEEDS, LATENCY_CV and SEEDED_POLICIES (the
# simulator's prediction for a run is the mean over SIM_SEEDS (30) simulations, seeds 1..SIM_SEEDS;
# SIM_TIMING=sampled, the default: every policy's, each load and inference drawn log-normally with
# the spread of the profile's p50 and p95 (experiments/timing_cv.py; LATENCY_CV overrides it);
# SIM_TIMING=profiled: the profile's figures as they are, and only the policies in SEEDED_POLICIES
# (random) simulated over seeds; SIM_SEEDS=1: each run simulated once with its own seed, as
# before 2026-12-06; docs/fidelity.md, "Timing-sensitive decisions").
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=out/testbed
brulee=build/release/brulee
format=onnx
policies=""
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --brulee) brulee=$2; shift ;;
    --policies) policies=$2; shift ;;
    --format) format=$2; shift ;;
    --runs) runs=$2; shift ;;
    -h|--help) sed -n '2,50p' "$0"; exit 0 ;;
    *) echo "testbed.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$brulee" ] || { echo "testbed.sh: $brulee not found: run scripts/bootstrap.sh first" >&2; exit 2; }
case "$format" in onnx|torchscript) ;; *) echo "testbed.sh: --format must be onnx or torchscript" >&2; exit 2 ;; esac
case "$runs" in ''|*[!0-9]*|0) echo "testbed.sh: --runs must be a positive integer" >&2; exit 2 ;; esac

# The profile's figures are means over its runs (and over PROFILE_LOADS reloads a run). A run's
# loads vary by a fifth from one to the next, so the full run takes five rounds' worth: three
# before the first round, one after each (PROFILE_SPREAD), or five before (docs/fidelity.md,
# "The profile's own noise" and "The profile spread over the testbed").
if [ "$quick" = 1 ]; then
  models=squeezenet1_1,shufflenet_v2_x1_0,mobilenet_v2,mnasnet1_0,resnet18,efficientnet_b0
  duration=${DURATION:-30}; profile_runs=${PROFILE_RUNS:-3}; spread=${PROFILE_SPREAD:-0}
  policies=${policies:-random,cremebrulee}
else
  models=squeezenet1_1,shufflenet_v2_x1_0,mobilenet_v2,mobilenet_v3_large,mnasnet1_0,regnet_y_400mf,resnet18,efficientnet_b0,googlenet,resnet50,densenet121,inception_v3
  duration=${DURATION:-90}; spread=${PROFILE_SPREAD:-1}
  profile_runs=${PROFILE_RUNS:-$([ "$spread" = 1 ] && echo 3 || echo 5)}
  policies=${policies:-random,lru,lfu,loadtime,belady,cremebrulee-oracle,cremebrulee}
fi
# ONNX at 4 requests/s in the full run (about 350 requests over 12 models, so first loads are
# under a tenth of the loads); TorchScript's loads (1-4 s) would queue without end at that rate.
rate=2
[ "$quick" = 0 ] && [ "$format" = onnx ] && rate=4
rate=${RATE:-$rate}
popularity=${POPULARITY:-zipf}
fraction=${MEMORY_FRACTION:-0.5}
seed=${SEED:-7}
busy_share=${BUSY_SHARE:-0.15}
# Timed warm reloads per model a profile round: one load's time varies by a fifth from the next,
# and a figure of five runs' single loads was off the servers' by up to a quarter, model by model.
profile_loads=${PROFILE_LOADS:-3}
case "$profile_loads" in ''|*[!0-9]*|0) echo "testbed.sh: PROFILE_LOADS must be a positive integer" >&2; exit 2 ;; esac
case "$spread" in 0|1) ;; *) echo "testbed.sh: PROFILE_SPREAD must be 0 or 1" >&2; exit 2 ;; esac
if [ "$spread" = 1 ] && [ "${PROFILE_EACH_ROUND:-0}" = 1 ]; then
  echo "testbed.sh: PROFILE_SPREAD=1 and PROFILE_EACH_ROUND=1 exclude each other" >&2; exit 2
fi
seeded_policies=${SEEDED_POLICIES:-random}
sim_timing=${SIM_TIMING:-sampled}
case "$sim_timing" in sampled|profiled) ;; *) echo "testbed.sh: SIM_TIMING must be sampled or profiled" >&2; exit 2 ;; esac
sim_seeds=${SIM_SEEDS:-30}
case "$sim_seeds" in ''|*[!0-9]*|0) echo "testbed.sh: SIM_SEEDS must be a positive integer" >&2; exit 2 ;; esac
export INPUTS=${INPUTS:-binary}
case "$INPUTS" in binary) input_flag=--binary-data ;; json) input_flag="" ;;
  *) echo "testbed.sh: INPUTS must be binary or json" >&2; exit 2 ;; esac
mkdir -p "$out/runs"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
cores=$(nproc)
ticks=$(getconf CLK_TCK)

# The zoo is deterministic: reuse one made before with the same models and format.
zoo="$out/zoo-$format"
if [ -f "$zoo/.models" ] && [ "$(cat "$zoo/.models")" = "$models" ]; then
  log "zoo: reusing $zoo"
else
  log "zoo ($format): $models"
  rm -rf "$zoo"
  "$brulee" zoo --out "$zoo" --models "$models" --format "$format" > "$out/zoo.log"
  echo "$models" > "$zoo/.models"
fi
log "profile ($profile_runs runs, with interference, crowd ${CROWD:-auto}); load average $(cut -d' ' -f1-3 /proc/loadavg)"
# TorchScript's first inferences after a load are slow (the JIT profiles, then optimises), so its
# steady figure needs more of them (docs/fidelity.md).
execs=3; [ "$format" = torchscript ] && execs=8
# Warm reloads measured among the other models a serving cache of this memory holds (about the
# memory fraction of the models, less the one reloading): a reload among resident models
# faults where a lone one does not (docs/fidelity.md, "Warm loads in a server, against the
# profile"). CROWD overrides it.
# Where the threads run (docs/server.md, "Threads and CPUs"): the same for the profile and the
# server, so the simulator's figures come from the placement it predicts.
placement=()
[ -n "${EXEC_CPUS:-}" ] && placement+=(--exec-cpus "$EXEC_CPUS")
[ -n "${LOAD_CPUS:-}" ] && placement+=(--load-cpus "$LOAD_CPUS")
count=$(echo "$models" | tr ',' '\n' | wc -l)
crowd=${CROWD:-$(/usr/bin/python3 -c "print(max(0, round($fraction * $count) - 1))")}
profile_to() {  # CATALOG TEXT [RUNS [MORE FLAGS]]
  local to=$1 text=$2 count=${3:-$profile_runs}
  shift 2; [ $# -gt 0 ] && shift
  "$brulee" profile --repo "$zoo" --runs "$count" --execs "$execs" --loads "$profile_loads" --crowd "$crowd" \
    --threads "${INTRA_OP_THREADS:-0}" "${placement[@]}" --out "$to" --quiet "$@" > "$text"
}
# The machine's speed while the profile ran, and while each run goes (start_probe FILE).
speed_probe=${SPEED_PROBE:-$(dirname "$brulee")/bench/runtime/speed_probe}
probe=""
if [ "$speed_probe" != none ] && [ ! -x "$speed_probe" ]; then
  log "no speed probe at $speed_probe: the machine's speed is not sampled"
  speed_probe=none
fi
start_probe() {
  [ "$speed_probe" = none ] && return 0
  "$speed_probe" --every 2 > "$1" 2>/dev/null &
  probe=$!
}
stop_probe() {
  [ -n "$probe" ] || return 0
  kill "$probe" 2>/dev/null || true
  wait "$probe" 2>/dev/null || true
  probe=""
}
# Whatever ends the script, stop the server, the load sampler and the probe it started.
server=""; sampler=""
trap 'kill $server $sampler $probe 2>/dev/null || true' EXIT
start_probe "$out/profile.probe"
profile_to "$out/catalog.json" "$out/profile.txt"
stop_probe
catalog="$out/catalog.json"  # the catalog of the round under way (PROFILE_EACH_ROUND)
log "trace: $popularity popularity, ${rate} req/s for ${duration} s"
"$brulee" workload synth --catalog "$out/catalog.json" --popularity "$popularity" --zipf 1.0 \
  --rate "$rate" --duration "$duration" --out "$out/trace.csv" --catalog-out "$out/trace.catalog.json" \
  --seed "$seed" > "$out/trace.txt"
total=$(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c=c.get("models",c); print(sum(m["size_bytes"] for m in c))' "$out/catalog.json")
memory=$(/usr/bin/python3 -c "print(int($total * $fraction))")
log "zoo loaded bytes $total, memory $memory ($fraction)"

# CPU seconds the whole machine spent busy (all cores), from /proc/stat.
machine_busy_s() {
  awk -v t="$ticks" '/^cpu /{print ($2+$3+$4+$7+$8+$9)/t}' /proc/stat
}
# CPU seconds the hypervisor gave other guests while this one's were ready to run (steal).
machine_steal_s() {
  awk -v t="$ticks" '/^cpu /{print $9/t}' /proc/stat
}
# CPU seconds used by one process so far (user + system).
process_cpu_s() {
  awk -v t="$ticks" '{sub(/^.*\) /, ""); print ($12+$13)/t}' "/proc/$1/stat" 2>/dev/null || echo 0
}


echo "policy,run,start,wall_s,load1_start,load1_max,other_cpu_share,busy,server_cpu_s,replay_cpu_s,steal_share" > "$out/runs.csv"
# The share of all cores used by every process over the next second (the testbed runs nothing
# then; /proc/stat counts in ticks of 10 ms, so a second on two cores is 200 of them, enough to
# tell BUSY_SHARE from none; it was 3 s until 2026-12-07, 63 s of a full testbed's 40 minutes).
machine_share_now() {
  local b0 b1
  b0=$(machine_busy_s); sleep 1; b1=$(machine_busy_s)
  awk -v a="$b0" -v b="$b1" -v c="$cores" 'BEGIN { printf "%.3f", (b - a) / c }'
}
# WAIT_QUIET=S: before each run, wait up to S seconds for a 1 s sample with others below
# BUSY_SHARE (the run is still flagged if they come back during it).
wait_quiet() {
  local limit=${WAIT_QUIET:-0} waited=0 share
  [ "$limit" -gt 0 ] || return 0
  while :; do
    share=$(machine_share_now)
    awk -v s="$share" -v b="$busy_share" 'BEGIN { exit !(s <= b) }' && return 0
    waited=$((waited + 1))
    if [ "$waited" -ge "$limit" ]; then
      log "still busy after ${waited} s (others ${share} of the CPU): running anyway"
      return 0
    fi
  done
}

# The simulator on the trace, as the servers ran it (the current $policy and $memory, ranking by
# the catalog the run's server was given, $catalog), its loads, inferences and unloads timed by
# COSTS: simulate_run COSTS SEED REQUESTS_CSV [MORE FLAGS].
simulate_run() {
  local costs_file=$1 seed_value=$2 requests=$3
  shift 3
  "$brulee" simulate --trace "$out/trace.csv" --catalog "$catalog" --costs-catalog "$costs_file" \
    --memory "$memory" --policy "$policy" --parallel-load --first-loads "${FIRST_LOADS:-concurrent}" \
    --seed "$seed_value" --requests-out "$requests" "$@"
}

# One run of one policy: serve + replay; appends its line to runs.csv.
run_once() {
  local policy=$1 run=$2
  tag="$policy.r$run"
  load_start=$(cut -d' ' -f1 /proc/loadavg)
  log "run $run/$runs, $policy: serve + replay (load average $load_start)"
  (while :; do cut -d' ' -f1 /proc/loadavg; sleep 2; done) > "$out/runs/$tag.loadavg" &
  sampler=$!
  start_probe "$out/runs/$tag.probe"
  busy_before=$(machine_busy_s)
  steal_before=$(machine_steal_s)
  wall_before=$(date +%s.%N)
  "$brulee" serve --repo "$zoo" --port 0 --grpc-port 0 --memory "$memory" --policy "$policy" \
    --seed "$run" --catalog "$catalog" --exec-threads "${EXEC_THREADS:-1}" \
    --loader-threads "${LOADER_THREADS:-1}" --intra-op-threads "${INTRA_OP_THREADS:-0}" "${placement[@]}" \
    --max-inflight-bytes "${MAX_INFLIGHT:-2GiB}" --learn-rate "${LEARN_RATE:-0}" \
    --first-loads "${FIRST_LOADS:-concurrent}" \
    > "$out/runs/$tag.server.log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 1 300); do
    # The background server may not have created its log yet: no error then.
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out/runs/$tag.server.log" 2>/dev/null | head -n 1 || true)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "testbed.sh: the server for $policy did not start:" >&2
    tail -n 5 "$out/runs/$tag.server.log" >&2
    kill "$server" "$sampler" 2>/dev/null || true
    exit 1
  fi
  # With LOAD_CPUS the replay client, which stands for clients on other machines, stays off
  # the execution CPUs as the server's other threads do.
  /usr/bin/time -f '%U %S' -o "$out/runs/$tag.replay.cpu" ${LOAD_CPUS:+taskset -c "$LOAD_CPUS"} \
    "$brulee" replay --url "http://127.0.0.1:$port" --trace "$out/trace.csv" --concurrency 64 \
    $input_flag --json --quiet --out "$out/runs/$tag.replay.csv" > "$out/runs/$tag.replay.json" || true
  server_cpu=$(process_cpu_s "$server")
  kill -TERM "$server"
  wait "$server" || true
  server=""
  wall_after=$(date +%s.%N)
  busy_after=$(machine_busy_s)
  steal_after=$(machine_steal_s)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sampler=""
  stop_probe
  # The last line (time prints a note first when the replay exits non-zero).
  replay_cpu=$(tail -n 1 "$out/runs/$tag.replay.cpu" 2>/dev/null | awk '{print $1+$2}')
  /usr/bin/python3 - "$out/runs.csv" "$policy" "$run" "$wall_before" "$wall_after" "$load_start" \
    "$out/runs/$tag.loadavg" "$busy_before" "$busy_after" "$server_cpu" "$replay_cpu" "$cores" \
    "$busy_share" "$steal_before" "$steal_after" <<'EOF'
import sys, time
(path, policy, run, w0, w1, load_start, load_file, b0, b1, server_cpu, replay_cpu, cores,
 busy_share, s0, s1) = sys.argv[1:]
wall = float(w1) - float(w0)
samples = [float(x) for x in open(load_file).read().split()] or [float(load_start)]
other = (float(b1) - float(b0)) - float(server_cpu) - float(replay_cpu)
share = max(0.0, other) / (wall * int(cores)) if wall > 0 else 0.0
busy = 1 if share > float(busy_share) else 0
start = time.strftime("%H:%M:%S", time.localtime(float(w0)))
with open(path, "a") as f:
  f.write(f"{policy},{run},{start},{wall:.1f},{load_start},{max(samples):.2f},{share:.3f},{busy},"
          f"{float(server_cpu):.1f},{float(replay_cpu):.1f},"
          f"{(float(s1) - float(s0)) / (wall * int(cores)) if wall > 0 else 0.0:.3f}\n")
if busy:
  print(f"testbed.sh: run {run} of {policy} was busy: other processes used {100 * share:.0f}% "
        f"of the CPU", file=sys.stderr)
EOF
}

# One run simulated (after the last round, when every profile is in): with the costs the profile
# measured (COSTS: the servers' catalog, or with PROFILE_SPREAD the mean over the spread profiles),
# and again with the costs this run's own server measured (experiments/own_costs.py), the error
# then left the simulator's model, not the drift between the profile and the run. Both rank by
# the catalog the run's server was given ($catalog).
simulate_once() {
  local policy=$1 run=$2 costs=$3
  tag="$policy.r$run"
  simulate_run "$costs" "$run" "$out/runs/$tag.sim.csv" --json > "$out/runs/$tag.sim.json"
  /usr/bin/python3 experiments/own_costs.py "$catalog" "$out/runs/$tag.replay.csv" \
    "$out/runs/$tag.server.log" > "$out/runs/$tag.own.catalog.json"
  simulate_run "$out/runs/$tag.own.catalog.json" "$run" "$out/runs/$tag.own.sim.csv" --json \
    > "$out/runs/$tag.own.sim.json"
  # The simulator's prediction for a run is a mean over SIM_SEEDS simulations: with
  # SIM_TIMING=sampled (the default) every policy's, each load and inference drawn with the spread
  # the profile measured (timing_cv.py), since a server's decisions follow its timings and its runs
  # are draws over them; with SIM_TIMING=profiled only a policy that draws (SEEDED_POLICIES), whose
  # server parts from the simulator's draws at the first decision it takes differently
  # (docs/fidelity.md, "Timing-sensitive decisions"). testbed_report.py reads
  # OUT/runs/<tag>.seeds/{sim,own}.s<N>.csv.
  local timing=()
  if [ "$sim_timing" = sampled ]; then
    timing=(--latency sampled --latency-cv "${LATENCY_CV:-$(/usr/bin/python3 experiments/timing_cv.py "$catalog")}")
  fi
  if { [ "$sim_timing" = sampled ] || [[ ",$seeded_policies," == *",$policy,"* ]]; } && [ "$sim_seeds" -gt 1 ]; then
    mkdir -p "$out/runs/$tag.seeds"
    for s in $(seq 1 "$sim_seeds"); do
      simulate_run "$costs" "$s" "$out/runs/$tag.seeds/sim.s$s.csv" "${timing[@]}" --no-bound \
        > /dev/null
      simulate_run "$out/runs/$tag.own.catalog.json" "$s" "$out/runs/$tag.seeds/own.s$s.csv" \
        "${timing[@]}" --no-bound > /dev/null
    done
    if [ "$sim_timing" = sampled ]; then echo "sampled, CV ${timing[3]}"; else echo profiled; fi \
      > "$out/runs/$tag.seeds/timing"
  fi
}

round_catalog=()  # the catalog each round's servers were given
# RETRY_BUSY=N: a run flagged busy is run again, up to N times (its earlier line is dropped).
for run in $(seq 1 "$runs"); do
  if [ "${PROFILE_EACH_ROUND:-0}" = 1 ] && [ "$run" -gt 1 ]; then
    log "profile again before round $run; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    catalog="$out/catalog.r$run.json"
    start_probe "$out/profile.r$run.probe"
    profile_to "$catalog" "$out/profile.r$run.txt"
    stop_probe
  fi
  round_catalog[$run]=$catalog
  for policy in ${policies//,/ }; do
    tries=0
    while :; do
      wait_quiet
      run_once "$policy" "$run"
      busy=$(tail -n 1 "$out/runs.csv" | cut -d, -f8)
      if [ "$busy" = 1 ] && [ "$tries" -lt "${RETRY_BUSY:-0}" ]; then
        tries=$((tries + 1))
        sed -i '$d' "$out/runs.csv"
        log "run $run of $policy was busy: running it again ($tries of ${RETRY_BUSY})"
        continue
      fi
      break
    done
  done
  if [ "$spread" = 1 ]; then
    log "profile again after round $run (1 run, no interference); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    start_probe "$out/profile.after$run.probe"
    profile_to "$out/catalog.after$run.json" "$out/profile.after$run.txt" 1 --no-interference
    stop_probe
  fi
done

if [ "$spread" = 1 ]; then
  later=()
  for run in $(seq 1 "$runs"); do later+=("$out/catalog.after$run.json:1"); done
  /usr/bin/python3 experiments/spread_profile.py "$out/catalog.json:$profile_runs" "${later[@]}" \
    > "$out/catalog.spread.json" 2> "$out/spread.txt"
  log "spread profile: $(tail -n 1 "$out/spread.txt")"
fi
# Nothing else runs now: the simulations go on every core, one run each.
log "simulate every run"
running=0
for run in $(seq 1 "$runs"); do
  catalog=${round_catalog[$run]}
  costs=$catalog
  [ "$spread" = 1 ] && costs="$out/catalog.spread.json"
  for policy in ${policies//,/ }; do
    simulate_once "$policy" "$run" "$costs" &
    running=$((running + 1))
    if [ "$running" -ge "$cores" ]; then wait -n; running=$((running - 1)); fi
  done
done
while [ "$running" -gt 0 ]; do wait -n; running=$((running - 1)); done

log "tables, summary.json and figures"
/usr/bin/python3 experiments/testbed_report.py "$out" "$policies" "$runs" "$memory" "$total" "$fraction" "$format"
log "done: $out/results.md, $out/summary.json"
