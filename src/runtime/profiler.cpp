#include "runtime/profiler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/seconds.hpp"
#include "runtime/backend_util.hpp"
#include "runtime/cpus.hpp"
#include "runtime/memory.hpp"

namespace brulee::runtime {
namespace {
double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const double rank = fraction * static_cast<double>(sorted.size() - 1);
  const auto low = static_cast<std::size_t>(std::floor(rank));
  const std::size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - static_cast<double>(low));
}
}  // namespace

LatencyStats summarize(std::vector<double> samples_s) {
  LatencyStats stats;
  if (samples_s.empty()) return stats;
  std::sort(samples_s.begin(), samples_s.end());
  stats.samples = samples_s.size();
  stats.mean_s = std::accumulate(samples_s.begin(), samples_s.end(), 0.0) /
                 static_cast<double>(samples_s.size());
  stats.p50_s = percentile(samples_s, 0.5);
  stats.p95_s = percentile(samples_s, 0.95);
  return stats;
}

double mean_during(const std::vector<TimedInterval>& inferences, double load_start_s,
                   double load_end_s) {
  double overlap_sum_s = 0.0;
  double share_sum = 0.0;
  for (const auto& inference : inferences) {
    const double length_s = inference.end_s - inference.start_s;
    const double overlap_s =
        std::min(inference.end_s, load_end_s) - std::max(inference.start_s, load_start_s);
    if (length_s <= 0.0 || overlap_s <= 0.0) continue;
    overlap_sum_s += overlap_s;
    share_sum += overlap_s / length_s;
  }
  return share_sum > 0.0 ? overlap_sum_s / share_sum : 0.0;
}

namespace {

struct Samples {
  std::vector<double> load_s, first_load_s, exec_s, unload_s, first_exec_s, load_beside_exec_s;
  // Per round: the mean inference after another model's and a pause over the mean timed back to
  // back just before it (the same copy, out of its warm-up).
  std::vector<double> exec_cold_x;
  // Per round: the mean inference beside a partner's load over the mean of the inferences timed
  // alone just before it (the same copy, out of its warm-up): a ratio of neighbours.
  std::vector<double> exec_beside_load_x;
  std::vector<std::uint64_t> bytes;
  std::uint64_t load_peak_bytes = 0, workspace_bytes = 0;
};

// One thread that runs every load and unload, as the server's loader thread does: its allocator
// arena then holds what earlier unloads freed, as a serving loader's does, and a load into it
// takes no page faults (docs/fidelity.md, "Loads into freed memory").
class LoaderThread {
 public:
  explicit LoaderThread(const std::vector<int>& cpus) : thread_([this] { loop(); }) {
    if (!place_thread(thread_.native_handle(), "brulee-load", cpus)) {
      stop_and_join();
      throw UsageError("could not restrict the loader thread to CPUs " + format_cpu_list(cpus));
    }
  }
  ~LoaderThread() { stop_and_join(); }
  LoaderThread(const LoaderThread&) = delete;
  LoaderThread& operator=(const LoaderThread&) = delete;

  // Runs `work` there; the future is ready (or holds its exception) when it is done.
  std::future<void> post(std::function<void()> work) {
    std::packaged_task<void()> task(std::move(work));
    auto done = task.get_future();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    return done;
  }
  void run(std::function<void()> work) { post(std::move(work)).get(); }

 private:
  void stop_and_join() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void loop() {
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// The partner's load failed during the interference measurement: its own error, not the
// measured model's.
struct PartnerFailed {
  std::string what;
};

// Loads `partner` (another model of the repository when there is one) on the loader thread while
// `model` runs inferences back to back on this one (from before the load starts until it ends):
// the partner's load time is its "load beside exec", and the inferences overlapping it give the
// model's "exec beside load". In a server an inference meets the loads of other models, whose
// phases (parsing on one thread, a warm-up inference on every core) differ from its own copy's,
// so the partner is another model (docs/fidelity.md, "Interference against other models'
// loads"). A copy loaded and dropped first leaves the loader's arena holding a copy's memory, as a
// serving loader's holds what its victims freed.
void measure_interference(LoaderThread& loader, const ProfileSubject& partner, LoadedModel& model,
                          const std::vector<Tensor>& inputs, double alone_s, Samples& model_samples,
                          Samples& partner_samples) {
  using Clock = std::chrono::steady_clock;
  try {
    loader.run([&partner] { partner.load().reset(); });
  } catch (const std::exception& error) {
    throw PartnerFailed{error.what()};
  }
  const auto origin = Clock::now();
  const auto since = [&origin] { return seconds_since(origin); };
  std::atomic<bool> started{false}, done{false};
  double load_start_s = 0.0, load_end_s = 0.0, load_s = 0.0;
  std::vector<TimedInterval> inferences;
  auto copy_loaded = loader.post([&] {
    struct Done {  // whatever happens, the inferences stop
      std::atomic<bool>& flag;
      ~Done() { flag.store(true); }
    } finished{done};
    while (!started.load()) std::this_thread::yield();  // the inferences are running
    load_start_s = since();
    auto copy = partner.load();
    load_end_s = since();
    load_s = copy->load_time_s();
    done.store(true);
    copy.reset();  // the copy's unload happens after the measurement
  });
  try {
    while (!done.load()) {
      TimedInterval inference;
      inference.start_s = since();
      started.store(true);
      model.infer(inputs);
      inference.end_s = since();
      inferences.push_back(inference);
    }
  } catch (...) {
    started.store(true);
    copy_loaded.wait();
    throw;
  }
  try {
    copy_loaded.get();
  } catch (const std::exception& error) {
    throw PartnerFailed{error.what()};
  }
  partner_samples.load_beside_exec_s.push_back(load_s);
  const double during_s = mean_during(inferences, load_start_s, load_end_s);
  if (during_s > 0.0 && alone_s > 0.0)
    model_samples.exec_beside_load_x.push_back(during_s / alone_s);
}

// An inference as a serving cache mostly runs one: after another model's, with the machine idle
// between requests (docs/fidelity.md, "Inferences after a pause"). `other` runs one (untimed), the
// thread sleeps `pause_s`, then `model` runs one (timed), `samples` times after one such cycle
// untimed. Returns their mean. After a pause of a second, TorchScript models here ran 0.96-1.26x
// (median 1.13) their back-to-back time (0.96-1.22x after 0.1 s), and the testbeds' servers ran
// their hits after another model's 1.06-1.16x as long as their hits after the same model's.
// The other model's failure throws PartnerFailed (no figure this round), not the model's.
constexpr std::uint64_t kColdSamples = 1;  // a round (2 made the full testbed 40 min)
double mean_cold(LoadedModel& model, const std::vector<Tensor>& inputs, LoadedModel& other,
                 const std::vector<Tensor>& other_inputs, double pause_s, std::uint64_t samples) {
  const auto run_other = [&] {
    try {
      other.infer(other_inputs);
    } catch (const std::exception& error) {
      throw PartnerFailed{error.what()};
    }
  };
  run_other();  // out of its warm-up (a TorchScript copy's first runs optimise)
  model.infer(inputs);
  double total_s = 0.0;
  for (std::uint64_t c = 0; c < samples; ++c) {
    run_other();
    std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
    const auto start = std::chrono::steady_clock::now();
    model.infer(inputs);
    total_s += seconds_since(start);
  }
  return total_s / static_cast<double>(samples);
}

// The model after `position` in this round's order that has not failed (cyclic; the model itself
// when it is the only one left), so each model is a partner once a round.
std::size_t partner_of(const std::vector<std::size_t>& order, std::size_t position,
                       const std::vector<ModelProfile>& profiles) {
  for (std::size_t step = 1; step < order.size(); ++step) {
    const std::size_t candidate = order[(position + step) % order.size()];
    if (profiles[candidate].error.empty()) return candidate;
  }
  return order[position];
}

}  // namespace

// Untimed loads and unloads before the timed warm load (see profile_subjects).
constexpr int kSettlingLoads = 2;

std::vector<ModelProfile> profile_subjects(const std::vector<ProfileSubject>& subjects,
                                           const ProfileOptions& options) {
  if (options.runs == 0) throw UsageError("--runs must be at least 1");
  if (options.loads_per_turn == 0) throw UsageError("--loads must be at least 1");
  std::vector<Samples> samples(subjects.size());
  std::vector<ModelProfile> profiles(subjects.size());
  for (std::size_t m = 0; m < subjects.size(); ++m) {
    profiles[m].name = subjects[m].name;
    profiles[m].backend = subjects[m].backend;
    profiles[m].file_bytes = subjects[m].file_bytes;
  }
  Rng rng(options.seed);
  std::vector<std::size_t> order(subjects.size());
  std::iota(order.begin(), order.end(), 0);
  const auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  // The calling thread runs the inferences: on options.exec_cpus until the profile ends.
  struct Placement {
    std::vector<int> before = thread_cpus();
    explicit Placement(const std::vector<int>& cpus) {
      if (!place_this_thread(nullptr, cpus)) {
        throw UsageError("could not restrict the inference thread to CPUs " +
                         format_cpu_list(cpus));
      }
    }
    ~Placement() { place_this_thread(nullptr, before); }
  };
  std::optional<Placement> placed;
  if (!options.exec_cpus.empty()) placed.emplace(options.exec_cpus);
  LoaderThread loader(options.load_cpus);
  // Models kept loaded after their turn, oldest first, up to options.crowd (see the warm reload).
  std::deque<std::pair<std::size_t, std::unique_ptr<LoadedModel>>> crowd;
  const auto drop = [&](auto kept) {
    loader.run([&] { kept->second.reset(); });  // dropped where it was loaded
    crowd.erase(kept);
  };
  const auto drop_oldest = [&] { drop(crowd.begin()); };
  for (std::uint64_t run = 0; run < options.runs; ++run) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (std::size_t position = 0; position < order.size(); ++position) {
      const std::size_t m = order[position];
      auto& profile = profiles[m];
      if (!profile.error.empty()) continue;
      std::unique_ptr<LoadedModel> model;
      // Its own copy from the round before leaves first: each turn starts without it.
      const auto own = std::find_if(crowd.begin(), crowd.end(),
                                    [m](const auto& kept) { return kept.first == m; });
      if (own != crowd.end()) drop(own);
      try {
        // Into memory the process does not hold: freed memory is handed back first (the peak is
        // measured from what the process really holds).
        release_free_memory();
        PeakMeter load_meter;
        loader.run([&] { model = subjects[m].load(); });
        samples[m].load_peak_bytes = std::max(samples[m].load_peak_bytes, load_meter.stop());
        samples[m].first_load_s.push_back(model->load_time_s());
        samples[m].bytes.push_back(model->resident_bytes());
        std::vector<Tensor> inputs;
        if (!model->inputs().empty()) {
          inputs = sample_inputs(model->inputs(), options.seed + m);  // values as clients send
          // The first inference after this load into fresh pages is not timed: first_exec is
          // the one after the warm reload below, as a serving cache's loads are.
          model->infer(inputs);
          for (std::uint64_t e = 0; e < options.execs_per_load; ++e) {
            const auto start = std::chrono::steady_clock::now();
            model->infer(inputs);
            samples[m].exec_s.push_back(seconds_since(start));
          }
          // One more inference, untimed, under a peak meter: its workspace (the heap's growth;
          // no trim first, which would leave the reload and the inferences below to fault their
          // memory back in, on every thread the library runs on).
          {
            PeakMeter exec_meter;
            const auto outputs = model->infer(inputs);  // held: the answer is part of it
            samples[m].workspace_bytes = std::max(samples[m].workspace_bytes, exec_meter.stop());
          }
        }
        // Unloaded, then loaded again, alone, into the memory the unload left with the loader's
        // allocator arena, as a serving cache's loads go into what its victims freed. Before
        // the unload a copy is loaded and dropped (the arena then holds two copies' worth, as a
        // serving process's does once its cache has turned over), and after it kSettlingLoads
        // untimed loads and unloads: measured, the timed reload then costs what a served one
        // does, where with fewer it came out 1.4-1.8x that, its page faults on the library's
        // threads (docs/fidelity.md, "A warm load that is warm").
        ThreadUsage warm_load;
        loader.run([&] {
          subjects[m].load().reset();
          const auto start = std::chrono::steady_clock::now();
          model.reset();
          samples[m].unload_s.push_back(seconds_since(start));
          for (int settle = 0; settle < kSettlingLoads; ++settle) subjects[m].load().reset();
          if (!crowd.empty() && crowd.size() >= options.crowd) {
            crowd.front().second.reset();
            crowd.pop_front();
          }
          const auto before = ThreadUsage::now();
          model = subjects[m].load();
          warm_load = ThreadUsage::now().since(before);
          samples[m].load_s.push_back(model->load_time_s());
          // More timed reloads, each after its own unload (timed too): a load's time varies by
          // a fifth from one to the next here, so the figure needs more of them than rounds
          // (docs/fidelity.md, "The profile spread over the testbed").
          for (std::uint64_t more = 1; more < options.loads_per_turn; ++more) {
            const auto unload_start = std::chrono::steady_clock::now();
            model.reset();
            samples[m].unload_s.push_back(seconds_since(unload_start));
            model = subjects[m].load();
            samples[m].load_s.push_back(model->load_time_s());
          }
        });
        say("run " + std::to_string(run + 1) + "/" + std::to_string(options.runs) + " " +
            profile.name + ": load " + std::to_string(samples[m].load_s.back()) + " s, cpu " +
            std::to_string(warm_load.cpu_s) + " s, " + std::to_string(warm_load.minor_faults) +
            " page faults");
        // The first inference after the warm reload: what follows a serving cache's loads,
        // which go into memory its victims freed. After a first load into fresh pages it took
        // up to 2x as long: a served model's first inferences took 0.62-1.0x that figure and
        // 1.02-1.32x this one (docs/fidelity.md, "The first inference after a warm load").
        if (!inputs.empty()) {
          const auto start = std::chrono::steady_clock::now();
          model->infer(inputs);
          samples[m].first_exec_s.push_back(seconds_since(start));
        }
        // The reloaded model's inferences beside a partner's load: no trim since its load, so
        // its inferences' workspace is already in memory, as in a serving process.
        if (options.interference && !inputs.empty()) {
          const std::size_t partner = partner_of(order, position, profiles);
          // The reload is a new copy, and a TorchScript copy's first inferences profile and
          // optimise its graph (up to 9x a steady one here): run beside the load, they counted
          // as the load's slowdown (docs/fidelity.md, "Interference measured out of the
          // warm-up"). So the copy runs out of its warm-up first (as many inferences as the
          // lone figures had, the first above included), then execs_per_load (at least 3) are
          // timed alone, and the slowdown is the inferences beside the load over those.
          for (std::uint64_t e = 0; e < options.execs_per_load; ++e) model->infer(inputs);
          const std::uint64_t alone_runs = std::max<std::uint64_t>(3, options.execs_per_load);
          const auto alone_start = std::chrono::steady_clock::now();
          for (std::uint64_t e = 0; e < alone_runs; ++e) model->infer(inputs);
          const double alone_s = seconds_since(alone_start) / static_cast<double>(alone_runs);
          try {
            measure_interference(loader, subjects[partner], *model, inputs, alone_s, samples[m],
                                 samples[partner]);
          } catch (const PartnerFailed& failed) {
            profiles[partner].error = failed.what;
            say("run " + std::to_string(run + 1) + " " + profiles[partner].name +
                ": failed: " + failed.what);
          }
          // Cold: after another model's inference and a pause. The other model is the newest
          // kept loaded, or else a copy of the partner (none when the model is alone). Over the
          // same copy's back-to-back figure, timed again just before (the interference above
          // may have moved it).
          std::unique_ptr<LoadedModel> copy;
          LoadedModel* other = nullptr;
          std::size_t other_index = m;
          if (!crowd.empty()) {
            other_index = crowd.back().first;
            other = crowd.back().second.get();
          } else if (partner != m && profiles[partner].error.empty() &&
                     options.cold_pause_s > 0.0) {
            try {
              loader.run([&] { copy = subjects[partner].load(); });
              other_index = partner;
              other = copy.get();
            } catch (const std::exception&) {
              // Its failure is its own turn's to report; no figure this round.
            }
          }
          if (other != nullptr && !other->inputs().empty() && options.cold_pause_s > 0.0) {
            const auto other_inputs = sample_inputs(other->inputs(), options.seed + other_index);
            const auto back_start = std::chrono::steady_clock::now();
            for (std::uint64_t e = 0; e < alone_runs; ++e) model->infer(inputs);
            const double back_s = seconds_since(back_start) / static_cast<double>(alone_runs);
            try {
              const double cold_s = mean_cold(*model, inputs, *other, other_inputs,
                                              options.cold_pause_s, kColdSamples);
              if (back_s > 0.0) samples[m].exec_cold_x.push_back(cold_s / back_s);
            } catch (const PartnerFailed& failed) {
              say("run " + std::to_string(run + 1) + " " + profile.name +
                  ": no cold figure: " + profiles[other_index].name + " failed: " + failed.what);
            }
          }
          if (copy) loader.run([&] { copy.reset(); });  // dropped where it was loaded
        }
        if (options.crowd > 0) {
          crowd.emplace_back(m, std::move(model));
          while (crowd.size() > options.crowd) drop_oldest();
        } else {
          loader.run([&] { model.reset(); });  // dropped where it was loaded
        }
      } catch (const std::exception& error) {
        if (model) loader.run([&] { model.reset(); });  // dropped where it was loaded
        profile.error = error.what();
        say("run " + std::to_string(run + 1) + " " + profile.name + ": failed: " + profile.error);
      }
    }
  }
  while (!crowd.empty()) drop_oldest();
  for (std::size_t m = 0; m < subjects.size(); ++m) {
    auto& profile = profiles[m];
    if (!profile.error.empty()) continue;
    profile.load = summarize(samples[m].load_s);
    profile.first_load = summarize(samples[m].first_load_s);
    profile.exec = summarize(samples[m].exec_s);
    profile.unload = summarize(samples[m].unload_s);
    profile.first_exec = summarize(samples[m].first_exec_s);
    // In seconds at the lone figure's speed: exec_beside_load / exec is the measured ratio.
    std::vector<double> beside_s;
    for (const double x : samples[m].exec_beside_load_x)
      beside_s.push_back(x * profile.exec.mean_s);
    profile.exec_beside_load = summarize(std::move(beside_s));
    std::vector<double> cold_s;
    for (const double x : samples[m].exec_cold_x) cold_s.push_back(x * profile.exec.mean_s);
    profile.exec_cold = summarize(std::move(cold_s));
    profile.load_beside_exec = summarize(samples[m].load_beside_exec_s);
    auto bytes = samples[m].bytes;
    std::sort(bytes.begin(), bytes.end());
    profile.resident_bytes = bytes.empty() ? 0 : bytes[bytes.size() / 2];
    profile.load_peak_bytes = std::max(samples[m].load_peak_bytes, profile.resident_bytes);
    profile.workspace_bytes = samples[m].workspace_bytes;
  }
  return profiles;
}

std::vector<ModelProfile> profile_models(const Repository& repository,
                                         const ProfileOptions& options) {
  if (options.runs == 0) throw UsageError("--runs must be at least 1");
  std::vector<RepositoryModel> models;
  if (options.models.empty()) {
    models = repository.models();
  } else {
    for (const auto& name : options.models) models.push_back(repository.find(name));
  }
  if (models.empty()) throw UsageError("repository " + repository.root() + " holds no models");
  std::vector<ProfileSubject> subjects;
  for (const auto& model : models) {
    ProfileSubject subject;
    subject.name = model.name;
    subject.backend = model.backend;
    subject.file_bytes = model.file_bytes;
    subject.load = [model, load = options.load] { return load_model(model, load); };
    subjects.push_back(std::move(subject));
  }
  return profile_subjects(subjects, options);
}

}  // namespace brulee::runtime
