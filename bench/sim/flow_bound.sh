#!/usr/bin/env bash
# The flow bound's cost: solve time and peak memory for 100k, 1M and 2M requests over the
# paper's 26 models and a 2,000-model Azure-calibrated catalog (docs/simulator.md, "The flow
# bound"). Each size is one `brulee simulate` with --bound flow and one with --bound none (the
# difference in peak RSS is the solver's); one memory size (30%), one thread (the bound is then
# computed after the run, alone).
# Usage: bench/sim/flow_bound.sh BRULEE DIR [SIZES="100000 1000000 2000000"] [MEMORY=30%]
set -euo pipefail
brulee=$1 dir=$2 sizes=${3:-"100000 1000000 2000000"} memory=${4:-30%}
mkdir -p "$dir"
cd "$dir"
echo "| catalog | requests | solve (s) | peak RSS, flow (MB) | peak RSS, no bound (MB) | bound / interval bound | load average |"
echo "|---|---|---|---|---|---|---|"
for catalog in paper azure2000; do
  for n in $sizes; do
    trace=$catalog-$n.bin
    if [ ! -f "$trace" ]; then
      if [ $catalog = paper ]; then
        "$brulee" workload synth --catalog paper --popularity azure --requests "$n" --rate 0.25 \
          --seed 1 --out "$trace" >/dev/null
      else
        "$brulee" workload synth --models 2000 --popularity azure --requests "$n" --seed 1 \
          --out "$trace" >/dev/null
      fi
    fi
    cat=$([ $catalog = paper ] && echo paper || echo "${trace%.bin}.catalog.json")
    run() {
      /usr/bin/time -f "rss %M" "$brulee" simulate --trace "$trace" --catalog "$cat" \
        --memory "$memory" --policy lru --no-queueing --threads 1 --timing --json "$@" 2>&1
    }
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    flow=$(run --bound flow)
    none=$(run --bound none)
    interval=$(run --bound interval)
    solve=$(grep -o 'flow bound in [0-9.]*' <<<"$flow" | awk '{print $4}')
    rss_flow=$(awk '/^rss/ {printf "%.0f", $2 / 1024}' <<<"$flow")
    rss_none=$(awk '/^rss/ {printf "%.0f", $2 / 1024}' <<<"$none")
    b_flow=$(grep -o '"bound_load_cost_s": [0-9.e+-]*' <<<"$flow" | awk '{print $2}')
    b_int=$(grep -o '"bound_load_cost_s": [0-9.e+-]*' <<<"$interval" | awk '{print $2}')
    ratio=$(/usr/bin/python3 -c "print(round($b_flow / $b_int, 3))")
    echo "| $catalog | $n | $solve | $rss_flow | $rss_none | $ratio | $load |"
  done
done
