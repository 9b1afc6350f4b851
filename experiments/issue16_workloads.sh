# Sourced by experiments/predictive_prefetch.sh and experiments/rate_oracle.sh: the six workloads
# of issue 16's tables (docs/results.md, "Beyond CremeBrulee").
#   issue16_workloads BRULEE DIR SEED REQUESTS RATE
# writes DIR/{az26,az26onoff,az2k,az26t,az2kt,zipf}.bin and their catalogs (kept if present):
# the paper catalog with Azure-calibrated popularity (Poisson arrivals, and on/off arrivals), the
# same over 2,000 models, both again with Azure's timer share (--timers 0.16: periodic models),
# and Zipf(1.0).
issue16_workloads() {
  local brulee=$1 dir=$2 seed=$3 requests=$4 rate=$5
  synth_one() {  # name, extra options
    local name=$1; shift
    [ -f "$dir/$name.bin" ] || "$brulee" workload synth --catalog paper --requests "$requests" \
      --rate "$rate" --seed "$seed" --out "$dir/$name.bin" "$@" > /dev/null
  }
  synth_one az26 --popularity azure
  synth_one az26onoff --popularity azure --arrivals onoff
  synth_one az2k --popularity azure --models 2000
  synth_one az26t --popularity azure --timers 0.16
  synth_one az2kt --popularity azure --models 2000 --timers 0.16
  synth_one zipf --popularity zipf --zipf 1.0
}
