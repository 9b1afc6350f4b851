#pragma once
// A test double of the runtime: a model that doubles its FP32 input "x" into output "y", with
// controllable load time, execution and unload gates, measured size and load failures (a model
// whose path is "corrupt", or whose name is set failing), and a count of load attempts per model.
// Everything else (sockets, HTTP, scheduler, policy) is real.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "serve/scheduler.hpp"

namespace brulee::serve::testing {

// A gate threads wait on until it is opened (open by default).
class Gate {
 public:
  explicit Gate(bool open = true) : open_(open) {}
  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --waiting_;
  }
  // Blocks until `count` threads wait at the gate.
  void await_waiters(int count) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return waiting_ >= count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_;
  int waiting_ = 0;
};

class FakeModel : public runtime::LoadedModel {
 public:
  FakeModel(std::uint64_t bytes, Gate& exec_gate, Gate& unload_gate, std::atomic<int>& executing,
            std::atomic<int>& max_executing, std::atomic<std::int64_t>* live_bytes = nullptr)
      : bytes_(bytes),
        exec_gate_(exec_gate),
        unload_gate_(unload_gate),
        executing_(executing),
        max_executing_(max_executing),
        live_bytes_(live_bytes) {
    inputs_.push_back({"x", runtime::DType::kFloat32, {-1}});
    outputs_.push_back({"y", runtime::DType::kFloat32, {-1}});
    if (live_bytes_) *live_bytes_ += static_cast<std::int64_t>(bytes_);
  }
  // Dropping the model (an unload or eviction) waits at the unload gate.
  ~FakeModel() override {
    unload_gate_.wait();
    if (live_bytes_) *live_bytes_ -= static_cast<std::int64_t>(bytes_);
  }
  const std::vector<runtime::TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<runtime::TensorSpec>& outputs() const override { return outputs_; }
  std::vector<runtime::Tensor> infer(const std::vector<runtime::Tensor>& inputs) override {
    if (inputs.size() != 1 || inputs[0].name != "x") throw UsageError("expected one input named x");
    if (inputs[0].dtype != runtime::DType::kFloat32) throw UsageError("input x must be FP32");
    if (inputs[0].shape.size() != 1) throw UsageError("input x must have rank 1");
    const int now = ++executing_;
    int seen = max_executing_.load();
    while (now > seen && !max_executing_.compare_exchange_weak(seen, now)) {
    }
    exec_gate_.wait();
    runtime::Tensor out{"y", runtime::DType::kFloat32, inputs[0].shape, inputs[0].data};
    for (std::size_t i = 0; i + sizeof(float) <= out.data.size(); i += sizeof(float)) {
      float v;
      std::memcpy(&v, out.data.data() + i, sizeof v);
      v *= 2.0f;
      std::memcpy(out.data.data() + i, &v, sizeof v);
    }
    --executing_;
    return {out};
  }
  double load_time_s() const override { return 0.001; }
  std::uint64_t resident_bytes() const override { return bytes_; }

 private:
  std::uint64_t bytes_;
  Gate& exec_gate_;
  Gate& unload_gate_;
  std::atomic<int>& executing_;
  std::atomic<int>& max_executing_;
  std::atomic<std::int64_t>* live_bytes_;
  std::vector<runtime::TensorSpec> inputs_, outputs_;
};

class FakeLoader : public ModelLoader {
 public:
  std::unique_ptr<runtime::LoadedModel> load(const ServedModel& model) override {
    {
      std::lock_guard lock(mutex_);
      ++loads_[model.name];
    }
    load_gate.wait();
    Gate* own_gate = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (auto it = model_gates.find(model.name); it != model_gates.end()) own_gate = it->second;
    }
    if (own_gate) own_gate->wait();
    bool fail = model.path == "corrupt";
    {
      std::lock_guard lock(mutex_);
      fail = fail || failing_.contains(model.name);
    }
    if (fail) throw std::runtime_error("cannot parse " + model.name + ": corrupt file");
    std::uint64_t bytes = model.estimate_bytes;
    {
      std::lock_guard lock(mutex_);
      auto it = measured.find(model.name);
      if (it != measured.end()) bytes = it->second;
    }
    return std::make_unique<FakeModel>(bytes, exec_gate, unload_gate, executing, max_executing,
                                       &live_bytes);
  }
  // Load attempts so far (failed ones included).
  int loads(const std::string& name) {
    std::lock_guard lock(mutex_);
    return loads_[name];
  }
  // From now on, every load of the model fails (or, with false, works again).
  void set_failing(const std::string& name, bool failing = true) {
    std::lock_guard lock(mutex_);
    if (failing) {
      failing_.insert(name);
    } else {
      failing_.erase(name);
    }
  }

  Gate load_gate;
  Gate exec_gate;
  Gate unload_gate;
  std::atomic<int> executing{0};
  std::atomic<int> max_executing{0};
  std::map<std::string, std::uint64_t> measured;  // measured size differs from the estimate
  // Bytes of the models loaded and not yet dropped (what the process would hold).
  std::atomic<std::int64_t> live_bytes{0};
  // Per model, a gate its loads also wait at (set before loads run; guarded by the loader).
  void set_model_gate(const std::string& name, Gate* gate) {
    std::lock_guard lock(mutex_);
    if (gate) {
      model_gates[name] = gate;
    } else {
      model_gates.erase(name);
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Gate*> model_gates;
  std::map<std::string, int> loads_;
  std::set<std::string> failing_;
};

inline std::vector<ServedModel> fake_models(int count, std::uint64_t bytes) {
  std::vector<ServedModel> models;
  for (int i = 0; i < count; ++i) {
    ServedModel m;
    m.name = "m" + std::to_string(i);
    m.platform = "fake";
    m.path = "m" + std::to_string(i);
    m.estimate_bytes = bytes;
    models.push_back(m);
  }
  return models;
}

}  // namespace brulee::serve::testing
