#pragma once
// A Triton-style model repository (docs/runtime.md, "Model repository"):
//
//   <repo>/<model>/<version>/model.onnx | model.pt     version = decimal number, highest wins
//   <repo>/<model>/config.json                         optional: backend, inputs, outputs,
//                                                      preprocessing, labels
//
// Model names are validated: [A-Za-z0-9_.-], not starting with '.', at most 128 characters, so
// no name can climb out of the repository; the model's folder and file are also resolved
// (symlinks followed) and must stay inside the repository, when the repository is scanned and
// again at every load (a file replaced by a symlink after the scan is refused).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/backend.hpp"

namespace brulee::runtime {

struct ModelConfig {
  std::string backend;             // "" = from the file name
  std::vector<TensorSpec> inputs;  // empty = from the model file
  std::vector<TensorSpec> outputs;
  nlohmann::json preprocessing;  // free-form, passed through
  std::vector<std::string> labels;
};

struct RepositoryModel {
  std::string name;
  std::string backend;  // "onnx", "torchscript"
  std::uint64_t version = 0;
  std::string path;  // the model file
  std::string root;  // the repository's real path, which the file must stay inside
  std::uint64_t file_bytes = 0;
  ModelConfig config;
};

// Throws UsageError naming what is wrong ("..", "/", empty, too long, bad characters).
void validate_model_name(std::string_view name);

// Reads <model_dir>/config.json; throws InputError on bad content. Missing file = defaults.
ModelConfig read_model_config(const std::string& config_path);

class Repository {
 public:
  // Scans `root`; throws UsageError if it is not a directory. Folders that are not valid models
  // (bad name, no version, no model file, bad config, symlink escape) are skipped and listed in
  // problems().
  explicit Repository(std::string root);

  const std::string& root() const { return root_; }
  const std::vector<RepositoryModel>& models() const { return models_; }  // sorted by name
  const std::vector<std::string>& problems() const { return problems_; }
  std::uint64_t total_file_bytes() const;

  // The model named `name`, re-checked on disk (so models added after the scan are found).
  // Throws UsageError on an invalid or unknown name, or a folder without a loadable model.
  RepositoryModel find(std::string_view name) const;
  // Rescans the folder.
  void refresh();

 private:
  std::string root_;  // canonical
  std::vector<RepositoryModel> models_;
  std::vector<std::string> problems_;
};

// Resolves one model folder (used by the scan and by find()); throws UsageError with the reason.
RepositoryModel resolve_model(const std::string& root, std::string_view name);

// The model's file as it is on disk now, symlinks resolved: it must be a regular file inside
// model.root (when set). Throws UsageError naming the model and the reason otherwise.
std::string contained_model_file(const RepositoryModel& model);

// Loads a repository model with its backend, passing config.json's inputs to the backend. The
// file is checked again first (contained_model_file) and the backend opens the resolved path.
std::unique_ptr<LoadedModel> load_model(const RepositoryModel& model, LoadOptions options = {});

}  // namespace brulee::runtime
