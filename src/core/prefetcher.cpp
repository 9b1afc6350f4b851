#include "core/prefetcher.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/victim_selection.hpp"

namespace brulee {
namespace {
using History = InterArrivalHistory;

// An upper bound on History::shape_factor at any idle time. Every term of the expected
// remaining gap (a bin's middle minus the idle time, or half of what is left of the idle time's
// own bin) is at most the middle of a non-empty bin, so the remaining gap is at most the highest
// such middle, and the shape (a mix of that ratio to the mean gap and 1) at most
// max(1, highest middle / mean gap).
double shape_bound(const History& h) {
  if (h.gaps == 0) return 1.0;
  double top = 0.0;
  double all_sum = 0.0;
  for (int k = 0; k < History::kBins; ++k) {
    const unsigned n = h.bins[static_cast<std::size_t>(k)];
    if (n == 0) continue;
    const double middle = History::bin_middle_s(k);
    top = std::max(top, middle);
    all_sum += n * middle;
  }
  return std::max(1.0, top * h.gaps / all_sum);
}

// Bounds are lowered by this much, relatively, so that rounding in the exact utility (a dozen
// operations) can never put it below its bound.
constexpr double kBoundSlack = 1.0 - 1e-9;
}  // namespace

double Prefetcher::cost_of(ModelId model) const {
  const ModelInfo& info = models_[model];
  return cost_mode_ == CostMode::kIncrease
             ? info.load_latency_s / std::max(info.exec_latency_s, 1e-9)
             : info.load_latency_s;
}

double Prefetcher::utility(ModelId model, double now_s) const {
  const ModelInfo& info = models_[model];
  return predicted_utility(predictor_.history(model), predictor_.origin_s(), info.load_latency_s,
                           cost_of(model), static_cast<double>(info.size_bytes), now_s);
}

// A lower bound on utility(model, now) x span(now), span = max(now - origin, floor), for every
// now >= latest_s_ (until the model's history or costs change, which re-keys it). With P the
// predicted miss cost, S the size, n the request count and H = shape_bound:
//   utility = P / (S max(span shape / n, floor)) >= P / (S max(span H / n, floor)),
// so utility x span >= min(P n / (S H), P span / (S floor)) >= min(P n / (S H), P span0 / (S
// floor)) with span0 the span at latest_s_ (spans only grow).
double Prefetcher::bound_key(ModelId model) const {
  const History& h = predictor_.history(model);
  if (h.count == 0) return 0.0;  // never requested: utility 0
  const ModelInfo& info = models_[model];
  const double p = predicted_miss_cost(h, info.load_latency_s, cost_of(model));
  const double s = std::max(1.0, static_cast<double>(info.size_bytes));
  const double span0 = std::max(latest_s_ - predictor_.origin_s(), History::kFloorS);
  const double by_rate = p * h.count / (s * shape_bound(h));
  const double by_floor = p * span0 / (s * History::kFloorS);
  double bound = std::min(by_rate, by_floor);
  // A periodic model's remaining time is its period less its idle time (interarrival.hpp), at
  // most max(period, floor): utility x span >= P span0 / (S max(period, floor)). Its history
  // changes only when it is requested, and then it is keyed again.
  if (h.periodic()) {
    const double period = std::max(static_cast<double>(h.gap_mean), History::kFloorS);
    bound = std::min(bound, p * span0 / (s * period));
  }
  return bound * kBoundSlack;
}

void Prefetcher::rekey(ModelId model) {
  if (model >= bound_of_.size()) bound_of_.resize(static_cast<std::size_t>(model) + 1, 0.0);
  const double key = bound_key(model);
  bound_of_[model] = key;
  bounds_.set(model, HeapKey(key, model));
}

void Prefetcher::observe(ModelId model, double time_s) {
  settle_outcomes(model);
  // Arrivals come in time order from the simulator and the server's clock; a client's trace
  // time may go back: it is taken as the latest (the residents' bounds hold from it on).
  if (seen_ && time_s < latest_s_) time_s = latest_s_;
  predictor_.observe(model, time_s);
  if (!seen_ || time_s > latest_s_) latest_s_ = time_s;
  seen_ = true;
  rekey(model);  // it is (or is about to be) resident
  rekey_due(model);
}

void Prefetcher::on_loaded(ModelId model) { rekey(model); }

void Prefetcher::on_cost_update(ModelId model) {
  if (bounds_.contains(model)) rekey(model);
  if (model < due_key_.size() && due_key_[model] >= 0.0) rekey_due(model);
}

// A timer (a model the predictor takes for periodic) becomes a candidate kDueLoads load
// latencies before its next firing: the ghost list holds only the latest evictions, and in a
// large catalog a timer evicted long ago has left it by the time it is due.
void Prefetcher::rekey_due(ModelId model) {
  if (model >= due_key_.size()) due_key_.resize(static_cast<std::size_t>(model) + 1, -1.0);
  if (due_key_[model] >= 0.0) due_.erase({due_key_[model], model});
  due_key_[model] = -1.0;
  const History& h = predictor_.history(model);
  if (!h.periodic()) return;
  const double due = h.last_s + h.gap_mean - kDueLoads * models_[model].load_latency_s;
  due_key_[model] = due > 0.0 ? due : 0.0;  // NaN too (times are a client's in the server)
  due_.insert({due_key_[model], model});
}

void Prefetcher::on_evicted(ModelId model) {
  if (observer_) observer_->on_evicted(model);
  on_cancelled(model);  // a prefetched model evicted before its first request: not followed
  if (model < cold_tries_.size()) cold_tries_[model] = kColdTries;  // a ghost from now on
  bounds_.erase(model);
  // Most recent first; a model already in the list moves to the front.
  std::size_t at = 0;
  while (at < ghost_count_ && ghosts_[at] != model) ++at;
  if (at == ghost_count_) {
    if (ghost_count_ < kGhosts) ++ghost_count_;
    at = ghost_count_ - 1;
  }
  for (; at > 0; --at) ghosts_[at] = ghosts_[at - 1];
  ghosts_[0] = model;
}

void Prefetcher::on_cancelled(ModelId model) {
  for (Open& o : open_) {
    if (o.model == model) o.model = kNoModel;
  }
}

double Prefetcher::caution(double cost) const {
  if (harm_ <= gain_) return 1.0;
  const double c = std::max(cost, 1e-12);
  return std::min(kMaxCaution, (harm_ + c) / (gain_ + c));
}

void Prefetcher::add_outcome(double& sum, double value) {
  gain_ *= 1.0 - kFade;
  harm_ *= 1.0 - kFade;
  sum += value;
}

// Follows a prefetch that evicts: its victims (the first kOpenVictims) and its model.
void Prefetcher::follow(ModelId model, const std::vector<ModelId>& victims) {
  Open& o = open_[open_next_];
  open_next_ = (open_next_ + 1) % kOpen;
  o.model = model;
  o.used = false;
  o.victim_count = static_cast<std::uint8_t>(std::min(victims.size(), kOpenVictims));
  std::copy_n(victims.begin(), o.victim_count, o.victims.begin());
}

// A request for `requested`: the first request of a followed prefetch's model is its gain; a
// request of a victim of a followed prefetch (the latest that evicted it) is its harm. What the
// prefetch gains is the load the request does not wait for; what a victim costs is the load it
// now needs (whether demand would have evicted it anyway is not known: the harm is an upper
// bound, so the feedback errs on the side of caution).
void Prefetcher::settle_outcomes(ModelId requested) {
  bool harmed = false;
  for (std::size_t k = 0; k < kOpen; ++k) {
    Open& o = open_[(open_next_ + kOpen - 1 - k) % kOpen];  // newest first
    if (o.model == kNoModel) continue;
    if (o.model == requested && !o.used) {
      // Without the prefetch this request would have loaded the model, and demand would have
      // evicted for it too: its victims requested from now on are not the prefetch's harm.
      o.used = true;
      o.victim_count = 0;
      add_outcome(gain_, cost_of(requested));
    }
    if (harmed) continue;
    const auto end = o.victims.begin() + o.victim_count;
    const auto at = std::find(o.victims.begin(), end, requested);
    if (at == end) continue;
    *at = *(end - 1);
    --o.victim_count;
    harmed = true;
    add_outcome(harm_, cost_of(requested));
  }
}

ModelId Prefetcher::best_candidate(const CacheState& cache, double now_s, double& best_utility) {
  ModelId best = kNoModel;
  best_utility = 0.0;
  for (std::size_t k = 0; k < ghost_count_; ++k) {
    const ModelId model = ghosts_[k];
    if (cache.resident(model) || models_[model].size_bytes > cache.capacity_bytes()) continue;
    const double u = utility(model, now_s);
    if (u > best_utility) {  // ties: the most recently evicted
      best_utility = u;
      best = model;
    }
  }
  // Timers due (ties: a ghost first, then the earliest due).
  for (auto it = due_.begin(); it != due_.end() && it->first <= now_s;) {
    const ModelId model = it->second;
    const History& h = predictor_.history(model);
    if (h.periodic_remaining_s(now_s > h.last_s ? now_s - h.last_s : 0.0) < 0.0) {
      due_key_[model] = -1.0;  // its firing was missed: back at its next request, if periodic
      it = due_.erase(it);
      continue;
    }
    ++it;
    if (cache.resident(model) || models_[model].size_bytes > cache.capacity_bytes()) continue;
    const double u = utility(model, now_s);
    if (u > best_utility) {
      best_utility = u;
      best = model;
    }
  }
  return best;
}

// The warm-up's next model: the first of cold_ (load cost per byte, highest first) that fits in
// free memory, among the next kColdScan not yet done. A model is done once requested, seen
// resident or evicted (it is a ghost then), or tried kColdTries times (each try a demand arrival
// cancelled: the model left memory unannounced).
ModelId Prefetcher::next_cold(const CacheState& cache) {
  if (cold_tries_.size() != models_.size()) {
    cold_.resize(models_.size());
    for (std::size_t m = 0; m < cold_.size(); ++m) cold_[m] = static_cast<ModelId>(m);
    const auto per_byte = [&](ModelId m) {
      return cost_of(m) / std::max(1.0, static_cast<double>(models_[m].size_bytes));
    };
    std::stable_sort(cold_.begin(), cold_.end(),
                     [&](ModelId a, ModelId b) { return per_byte(a) > per_byte(b); });
    cold_tries_.resize(models_.size(), 0);
    cold_next_ = 0;
  }
  const std::uint64_t free = cache.free_bytes();
  std::size_t looked = 0;
  for (std::size_t k = cold_next_; k < cold_.size() && looked < kColdScan; ++k, ++looked) {
    const ModelId model = cold_[k];
    std::uint8_t& tries = cold_tries_[model];
    if (tries < kColdTries && (predictor_.history(model).count != 0 || cache.resident(model))) {
      tries = kColdTries;
    }
    if (tries < kColdTries && models_[model].size_bytes <= free) {
      ++tries;
      return model;
    }
    if (tries >= kColdTries && k == cold_next_) ++cold_next_;
  }
  return kNoModel;
}

ModelId Prefetcher::chosen(ModelId model, std::vector<ModelId>& victims, double now_s) {
  rekey(model);  // it becomes resident
  if (observer_) observer_->on_chosen(model, victims, now_s);
  return model;
}

ModelId Prefetcher::choose_by_scan(const CacheState& cache, double now_s,
                                   std::vector<ModelId>& victims) {
  return decide(cache, now_s, victims, true);
}

ModelId Prefetcher::choose(const CacheState& cache, double now_s, std::vector<ModelId>& victims) {
  // The bounds hold from the latest observed time on; earlier, score everything.
  return decide(cache, now_s, victims, seen_ && now_s < latest_s_);
}

// The best candidate, then (when it does not fit in free memory) its victims, found by scoring
// every unpinned resident or by walking the bounds; the two give the same victims.
ModelId Prefetcher::decide(const CacheState& cache, double now_s, std::vector<ModelId>& victims,
                           bool by_scan) {
  victims.clear();
  last_scored_ = 0;
  double best_utility = 0.0;
  const ModelId best = best_candidate(cache, now_s, best_utility);
  if (best != kNoModel) {
    const std::uint64_t size = models_[best].size_bytes;
    if (size <= cache.free_bytes()) return chosen(best, victims, now_s);
    const std::uint64_t needed = size - cache.free_bytes();
    if (needed <= cache.evictable_bytes()) {
      // Past prefetches' outcomes raise the bar (1 while they gained at least what they harmed).
      const double caution = this->caution(cost_of(best));
      // Evidence fades with every decision it raises the bar for too, so a bar raised in one
      // phase of the workload comes down again even when it stops every prefetch.
      if (caution > 1.0) {
        gain_ *= 1.0 - kDecisionFade;
        harm_ *= 1.0 - kDecisionFade;
      }
      const double bar = best_utility / caution;
      const bool found = by_scan ? victims_by_scan(cache, now_s, bar, needed, victims)
                                 : victims_by_bound(cache, now_s, bar, needed, victims);
      if (found) {
        keep_largest_needed(cache, needed, victims, 0);
        if (gives_more_than_it_takes(cache, now_s, best_utility, size, victims, caution)) {
          follow(best, victims);
          return chosen(best, victims, now_s);
        }
      }
      victims.clear();
    }
  }
  const ModelId cold = next_cold(cache);
  return cold == kNoModel ? kNoModel : chosen(cold, victims, now_s);
}

// A prefetch pays only if the model brings in more predicted value than its victims take out:
// utility x size is a model's expected miss cost per second of not holding it (load cost over
// time to the next request). Victims are chosen by utility per byte; this keeps one large model
// from being evicted to fit a small one of higher utility per byte but far less value, whose
// leftover room nothing may want (docs/prefetch.md, step 3).
bool Prefetcher::gives_more_than_it_takes(const CacheState& cache, double now_s,
                                          double best_utility, std::uint64_t size,
                                          const std::vector<ModelId>& victims,
                                          double caution) const {
  double taken = 0.0;
  for (ModelId victim : victims) {
    taken += utility(victim, now_s) * static_cast<double>(cache.bytes_of(victim));
  }
  return taken * caution < best_utility * static_cast<double>(size);
}

// Scores every unpinned resident and appends those below best_utility / kMargin, lowest first,
// until they free `needed` bytes; false if they cannot.
bool Prefetcher::victims_by_scan(const CacheState& cache, double now_s, double best_utility,
                                 std::uint64_t needed, std::vector<ModelId>& victims) {
  scored_.clear();
  for (ModelId model : cache.resident_models()) {
    if (cache.pinned(model)) continue;
    const double u = utility(model, now_s);
    ++last_scored_;
    if (u * kMargin < best_utility) scored_.push_back({u, model});
  }
  std::sort(scored_.begin(), scored_.end());
  std::uint64_t freed = 0;
  for (const Scored& r : scored_) {
    if (freed >= needed) break;
    victims.push_back(r.model);
    freed += cache.bytes_of(r.model);
  }
  return freed >= needed;
}

// Appends the qualifying residents in the order (utility, model) until they free `needed`
// bytes; false if they cannot. Walks the heap of bounds best-first (a frontier of heap
// positions ordered by bound); a scored model is taken once its utility is below every bound
// still unwalked, since no unscored model can then come before it.
bool Prefetcher::victims_by_bound(const CacheState& cache, double now_s, double best_utility,
                                  std::uint64_t needed, std::vector<ModelId>& victims) {
  const double span = std::max(now_s - predictor_.origin_s(), History::kFloorS);
  const auto walk_later = [](const Walk& a, const Walk& b) { return b.bound < a.bound; };
  const auto scored_later = [](const Scored& a, const Scored& b) { return b < a; };
  walk_.clear();
  scored_.clear();
  gone_.clear();
  if (!bounds_.empty()) walk_.push_back({bound_of_[bounds_.at(0).model] / span, 0});
  const auto heap_size = static_cast<std::uint32_t>(bounds_.size());
  std::uint64_t freed = 0;
  bool enough = false;
  for (;;) {
    const double next_bound =
        walk_.empty() ? std::numeric_limits<double>::infinity() : walk_.front().bound;
    // No model still unwalked can be a victim: what is scored is all there is.
    const bool walk_done = walk_.empty() || next_bound * kMargin >= best_utility;
    if (!scored_.empty() && (walk_done || scored_.front().utility < next_bound)) {
      std::pop_heap(scored_.begin(), scored_.end(), scored_later);
      const ModelId model = scored_.back().model;
      scored_.pop_back();
      victims.push_back(model);
      freed += cache.bytes_of(model);
      if (freed >= needed) {
        enough = true;
        break;
      }
      continue;
    }
    if (walk_done) break;
    std::pop_heap(walk_.begin(), walk_.end(), walk_later);
    const std::uint32_t position = walk_.back().position;
    walk_.pop_back();
    const std::uint32_t first = IndexedHeap::first_child_of(position);
    for (std::uint32_t child = first; child < first + IndexedHeap::kArity && child < heap_size;
         ++child) {
      walk_.push_back({bound_of_[bounds_.at(child).model] / span, child});
      std::push_heap(walk_.begin(), walk_.end(), walk_later);
    }
    const ModelId model = bounds_.at(position).model;
    if (!cache.resident(model)) {
      gone_.push_back(model);  // left memory unannounced (a cancelled prefetch, a failed load)
      continue;
    }
    if (cache.pinned(model)) continue;
    const double u = utility(model, now_s);
    ++last_scored_;
    if (u * kMargin < best_utility) {
      scored_.push_back({u, model});
      std::push_heap(scored_.begin(), scored_.end(), scored_later);
    }
  }
  for (ModelId model : gone_) bounds_.erase(model);
  return enough;
}

}  // namespace brulee
