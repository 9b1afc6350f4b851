#include "runtime/repository.hpp"

#include <algorithm>
#include <fstream>

#include <filesystem>

#include "core/error.hpp"

namespace brulee::runtime {
namespace fs = std::filesystem;

namespace {
constexpr std::size_t kMaxNameLength = 128;

bool inside(const fs::path& root, const fs::path& candidate) {
  auto root_it = root.begin();
  auto it = candidate.begin();
  for (; root_it != root.end(); ++root_it, ++it) {
    if (root_it->empty()) continue;  // trailing separator
    if (it == candidate.end() || *it != *root_it) return false;
  }
  return true;
}

std::vector<TensorSpec> parse_specs(const nlohmann::json& list, const std::string& file,
                                    const char* key) {
  if (!list.is_array()) throw InputError(file, 0, std::string("'") + key + "' must be a list");
  std::vector<TensorSpec> specs;
  for (const auto& item : list) {
    if (!item.is_object() || !item.contains("name") || !item.contains("shape")) {
      throw InputError(file, 0,
                       std::string("each entry of '") + key + "' needs 'name' and 'shape'");
    }
    TensorSpec spec;
    spec.name = item["name"].get<std::string>();
    spec.dtype = parse_dtype(item.value("dtype", std::string("FP32")));
    spec.shape = item["shape"].get<std::vector<std::int64_t>>();
    for (const auto dim : spec.shape) {
      if (dim == 0 || dim < -1)
        throw InputError(file, 0, "input '" + spec.name + "' has a bad dimension");
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}
}  // namespace

void validate_model_name(std::string_view name) {
  const std::string shown(name.substr(0, 64));
  if (name.empty()) throw UsageError("empty model name");
  if (name.size() > kMaxNameLength) throw UsageError("model name '" + shown + "...' is too long");
  if (name.find("..") != std::string_view::npos) {
    throw UsageError("model name '" + shown + "' must not contain '..'");
  }
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    throw UsageError("model name '" + shown + "' must not contain '/' or '\\'");
  }
  if (name.front() == '.') throw UsageError("model name '" + shown + "' must not start with '.'");
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok)
      throw UsageError("model name '" + shown + "' may only use letters, digits, '_', '-' and '.'");
  }
}

ModelConfig read_model_config(const std::string& config_path) {
  ModelConfig config;
  std::error_code error;
  if (!fs::exists(config_path, error)) return config;
  std::ifstream in(config_path);
  if (!in) throw InputError(config_path, 0, "cannot read");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& parse_error) {  // syntax, or a number out of range
    throw InputError(config_path, 0, std::string("not valid JSON: ") + parse_error.what());
  }
  if (!json.is_object()) throw InputError(config_path, 0, "must hold a JSON object");
  try {
    if (json.contains("backend")) {
      config.backend = json["backend"].get<std::string>();
      find_backend(config.backend);  // UsageError on an unknown backend
    }
    if (json.contains("inputs")) config.inputs = parse_specs(json["inputs"], config_path, "inputs");
    if (json.contains("outputs"))
      config.outputs = parse_specs(json["outputs"], config_path, "outputs");
    if (json.contains("preprocessing")) config.preprocessing = json["preprocessing"];
    if (json.contains("labels")) config.labels = json["labels"].get<std::vector<std::string>>();
  } catch (const InputError&) {
    throw;
  } catch (const UsageError& usage) {
    throw InputError(config_path, 0, usage.what());
  } catch (const nlohmann::json::exception& json_error) {
    throw InputError(config_path, 0, json_error.what());
  }
  return config;
}

RepositoryModel resolve_model(const std::string& root, std::string_view name) {
  validate_model_name(name);
  const fs::path root_path(root);
  const fs::path model_dir = root_path / std::string(name);
  std::error_code error;
  if (!fs::is_directory(model_dir, error)) {
    throw UsageError("no model '" + std::string(name) + "' in repository " + root);
  }
  const fs::path real_dir = fs::canonical(model_dir, error);
  if (error || !inside(root_path, real_dir)) {
    throw UsageError("model '" + std::string(name) + "' resolves outside the repository " + root);
  }
  RepositoryModel model;
  model.name = std::string(name);
  model.config = read_model_config((model_dir / "config.json").string());

  // Highest numeric version folder holding a model file.
  std::vector<std::pair<std::uint64_t, fs::path>> versions;
  for (const auto& entry : fs::directory_iterator(model_dir, error)) {
    const std::string version = entry.path().filename().string();
    if (version.empty() || version.size() > 18 || !entry.is_directory(error) ||
        !std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    versions.emplace_back(std::stoull(version), entry.path());
  }
  std::sort(versions.rbegin(), versions.rend());
  const std::vector<std::string> backends = model.config.backend.empty()
                                                ? backend_names()
                                                : std::vector<std::string>{model.config.backend};
  for (const auto& [version, dir] : versions) {
    for (const auto& backend_name : backends) {
      const fs::path file = dir / std::string(find_backend(backend_name).file_name);
      if (!fs::is_regular_file(file, error)) continue;
      const fs::path real_file = fs::canonical(file, error);
      if (error || !inside(root_path, real_file)) {
        throw UsageError("model '" + model.name + "': " + file.string() +
                         " resolves outside the repository");
      }
      model.backend = backend_name;
      model.version = version;
      model.path = file.string();
      model.root = fs::canonical(root_path, error).string();
      model.file_bytes = fs::file_size(real_file, error);
      return model;
    }
  }
  std::string wanted;
  for (const auto& backend_name : backends) {
    wanted += (wanted.empty() ? "" : " or ") + std::string(find_backend(backend_name).file_name);
  }
  throw UsageError("model '" + model.name + "' has no <version>/" + wanted + " in " +
                   model_dir.string());
}

Repository::Repository(std::string root) {
  std::error_code error;
  if (!fs::is_directory(root, error))
    throw UsageError("model repository '" + root + "' is not a directory");
  root_ = fs::canonical(root, error).string();
  refresh();
}

void Repository::refresh() {
  models_.clear();
  problems_.clear();
  std::error_code error;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(root_, error)) {
    if (entry.is_directory(error)) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    try {
      models_.push_back(resolve_model(root_, name));
    } catch (const UsageError& problem) {
      problems_.push_back(problem.what());
    }
  }
}

std::uint64_t Repository::total_file_bytes() const {
  std::uint64_t total = 0;
  for (const auto& model : models_) total += model.file_bytes;
  return total;
}

RepositoryModel Repository::find(std::string_view name) const { return resolve_model(root_, name); }

std::string contained_model_file(const RepositoryModel& model) {
  std::error_code error;
  const fs::path real_file = fs::canonical(model.path, error);
  if (error) {
    throw UsageError("model '" + model.name + "': cannot resolve " + model.path + ": " +
                     error.message());
  }
  if (!model.root.empty() && !inside(fs::path(model.root), real_file)) {
    throw UsageError("model '" + model.name + "': " + model.path +
                     " resolves outside the repository " + model.root);
  }
  if (!fs::is_regular_file(real_file, error)) {
    throw UsageError("model '" + model.name + "': " + model.path + " is not a regular file");
  }
  return real_file.string();
}

std::unique_ptr<LoadedModel> load_model(const RepositoryModel& model, LoadOptions options) {
  // The scan's check does not cover what happened since (a file replaced by a symlink after an
  // unload): check again, and let the backend open the path just resolved.
  const std::string file = contained_model_file(model);
  if (options.inputs.empty()) options.inputs = model.config.inputs;
  return backend(model.backend).load(file, options);
}

}  // namespace brulee::runtime
