// The model catalog: JSON in brulee's schema or the paper's, the paper's CSV profile table, and
// the built-in "paper" catalog embedded from data/paper_model_profiles.csv at build time.
#include "workload/catalog.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include <sys/stat.h>

#include "core/error.hpp"
#include "core/units.hpp"
#include "workload/paper_catalog_csv.hpp"

namespace brulee::workload {
namespace {

using nlohmann::json;

constexpr double kBytesPerMb = 1e6;  // the paper's sizes are decimal megabytes

std::uint64_t mb_to_bytes(double mb) {
  return static_cast<std::uint64_t>(std::llround(mb * kBytesPerMb));
}

void check_name(const std::string& name, const std::string& source, std::uint64_t line,
                const std::string& where) {
  if (name.empty()) throw InputError(source, line, where + "empty model name");
  for (const char c : name) {
    if (c == ',' || c == '\n' || c == '\r' || c == '"') {
      throw InputError(source, line,
                       where + "model name '" + name + "' contains a comma, quote or newline");
    }
  }
}

void check_costs(const ModelInfo& model, const std::string& source, std::uint64_t line,
                 const std::string& where) {
  if (model.size_bytes == 0) throw InputError(source, line, where + "size must be > 0");
  for (const double value : {model.load_latency_s, model.exec_latency_s, model.unload_latency_s}) {
    if (!std::isfinite(value) || value < 0) {
      throw InputError(source, line, where + "latencies must be finite and >= 0");
    }
  }
}

std::string read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    throw UsageError("catalog " + path + ": no such file (give a JSON file or 'paper')");
  std::string text;
  // Room for the whole file at once: growing by doubling copied it and faulted in fresh pages
  // each time (a 10,000-model catalog is 1.5 MB).
  struct stat info {};
  if (fstat(fileno(file), &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
    text.reserve(static_cast<std::size_t>(info.st_size));
  }
  char block[1 << 16];
  std::size_t got = 0;
  while ((got = std::fread(block, 1, sizeof block, file)) > 0) text.append(block, got);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) throw InputError(path, 0, "read failed");
  return text;
}

double number_field(const json& entry, const char* key, const std::string& source,
                    const std::string& where, bool required) {
  const auto found = entry.find(key);
  if (found == entry.end()) {
    if (required) throw InputError(source, 0, where + "missing field '" + key + "'");
    return 0.0;
  }
  if (!found->is_number())
    throw InputError(source, 0, where + "field '" + key + "' is not a number");
  const double value = found->get<double>();
  if (!std::isfinite(value) || value < 0)
    throw InputError(source, 0, where + "field '" + key + "' must be >= 0");
  return value;
}

std::uint64_t size_field(const json& value, bool megabytes, const std::string& source,
                         const std::string& where) {
  if (value.is_string()) {
    try {
      return parse_bytes(value.get<std::string>());
    } catch (const UsageError& e) {
      throw InputError(source, 0, where + e.what());
    }
  }
  if (!value.is_number())
    throw InputError(source, 0, where + "size is neither a number nor a size string");
  const double number = value.get<double>();
  if (!std::isfinite(number) || number < 0 || number > 1.8e19)
    throw InputError(source, 0, where + "bad size");
  return megabytes ? mb_to_bytes(number) : static_cast<std::uint64_t>(std::llround(number));
}

// Optional interference fields (docs/formats.md, docs/fidelity.md).
constexpr const char* kExecBesideLoad = "exec_beside_load_s";
constexpr const char* kLoadBesideExec = "load_beside_exec_s";
constexpr const char* kFirstExec = "first_exec_s";
constexpr const char* kFirstLoad = "first_load_s";
constexpr const char* kExecCold = "exec_cold_s";
constexpr const char* kExecColdPause = "exec_cold_pause_s";
// Optional memory fields (docs/formats.md, "Memory fields").
constexpr const char* kLoadPeak = "load_peak_bytes";
constexpr const char* kWorkspace = "workspace_bytes";

bool is_percentile_key(const std::string& key) {
  // <load|exec|unload>_latency_p<digits>_s
  for (const char* prefix : {"load_latency_p", "exec_latency_p", "unload_latency_p"}) {
    const std::string_view p(prefix);
    if (key.size() > p.size() + 2 && key.compare(0, p.size(), p) == 0 && key.ends_with("_s")) {
      const auto digits = std::string_view(key).substr(p.size(), key.size() - p.size() - 2);
      if (!digits.empty() && digits.find_first_not_of("0123456789.") == std::string_view::npos)
        return true;
    }
  }
  return false;
}

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const auto comma = line.find(separator, start);
    if (comma == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

// The catalogs brulee and its tools write (one schema, plain names, numbers for every field)
// read without building a JSON document: the document is most of the cost of reading a
// 10,000-model catalog. Anything else, well formed or not, is declined (nullopt) and read by the
// document parser, which also gives every error: this reader never throws on bad input, and a
// catalog it accepts is the one the document parser makes of the same text.
class SimpleCatalogReader {
 public:
  explicit SimpleCatalogReader(std::string_view text) : text_(text) {}

  std::optional<Catalog> read() {
    skip_space();
    if (at_end()) return std::nullopt;
    if (peek() == '[') {
      if (!models()) return std::nullopt;
    } else if (!top_object()) {
      return std::nullopt;
    }
    skip_space();
    if (!at_end()) return std::nullopt;  // trailing text: the document parser reports it
    // Built as the document parser builds it (reserved for the list, then added in order), so
    // even the index's buckets are the same.
    Catalog catalog;
    catalog.reserve(models_.size());
    for (ModelInfo& model : models_) {
      if (catalog.index.count(model.name) != 0) return std::nullopt;  // a name given twice
      catalog.add(std::move(model));
    }
    return catalog;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
      ++pos_;
    }
  }
  bool consume(char c) {
    skip_space();
    if (at_end() || peek() != c) return false;
    ++pos_;
    return true;
  }
  // A string of printable ASCII without escapes (anything else is declined).
  bool string(std::string_view& out) {
    if (!consume('"')) return false;
    const std::size_t start = pos_;
    for (; !at_end(); ++pos_) {
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        out = text_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c < 0x20 || c >= 0x7f || c == '\\') return false;
    }
    return false;
  }
  // A non-negative JSON number (its grammar checked here: from_chars is more lenient). Declines
  // a result out of a double's range (the document parser reports an overflow) or an underflow.
  bool number(double& out) {
    skip_space();
    const std::size_t start = pos_;
    const auto digits = [&] {
      const std::size_t from = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (at_end()) return false;
    if (peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return false;
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) return false;
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) return false;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    const auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && end == last && std::isfinite(out);
  }
  bool top_object() {
    if (!consume('{')) return false;
    bool seen_format = false, seen_version = false, seen_models = false;
    do {
      std::string_view key;
      if (!string(key) || !consume(':')) return false;
      if (key == "format" && !seen_format) {
        std::string_view ignored;
        if (!string(ignored)) return false;
        seen_format = true;
      } else if (key == "version" && !seen_version) {
        double ignored = 0;
        if (!number(ignored)) return false;
        seen_version = true;
      } else if (key == "models" && !seen_models) {
        if (!models()) return false;
        seen_models = true;
      } else {
        return false;  // a key read otherwise, or repeated (the document keeps the last)
      }
    } while (consume(','));
    return consume('}') && seen_models;
  }
  bool models() {
    if (!consume('[')) return false;
    do {
      if (!model()) return false;
    } while (consume(','));
    return consume(']');
  }
  bool model() {
    if (!consume('{')) return false;
    enum : unsigned { kName = 1, kSize = 2, kLoad = 4, kExec = 8, kUnload = 16 };
    unsigned seen = 0;
    std::string_view name;
    double size = 0;
    ModelInfo model;
    do {
      std::string_view key;
      if (!string(key) || !consume(':')) return false;
      unsigned field = 0;
      bool ok = false;
      if (key == "name") {
        field = kName;
        ok = string(name);
      } else if (key == "size_bytes") {
        field = kSize;
        ok = number(size);
      } else if (key == "load_latency_s") {
        field = kLoad;
        ok = number(model.load_latency_s);
      } else if (key == "exec_latency_s") {
        field = kExec;
        ok = number(model.exec_latency_s);
      } else if (key == "unload_latency_s") {
        field = kUnload;
        ok = number(model.unload_latency_s);
      }
      if (!ok || (seen & field) != 0) return false;
      seen |= field;
    } while (consume(','));
    if (!consume('}') || (seen | kUnload) != (kName | kSize | kLoad | kExec | kUnload)) {
      return false;
    }
    // What the document parser checks, declined here (it gives the error).
    if (name.empty() || name.find(',') != std::string_view::npos) return false;
    if (size < 1 || size > 1e18) return false;
    model.size_bytes = static_cast<std::uint64_t>(std::llround(size));
    model.name = std::string(name);
    models_.push_back(std::move(model));
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::vector<ModelInfo> models_;
};

}  // namespace

std::optional<Catalog> detail::parse_simple_catalog_json(std::string_view text) {
  return SimpleCatalogReader(text).read();
}

std::optional<ModelId> Catalog::find(const std::string& name) const {
  const auto found = index.find(name);
  if (found == index.end()) return std::nullopt;
  return found->second;
}

void Catalog::reserve(std::size_t count) {
  models.reserve(count);
  index.reserve(count);
  percentiles.reserve(count);
  interference.reserve(count);
  memory.reserve(count);
}

ModelId Catalog::add(ModelInfo model) {
  if (index.count(model.name) != 0)
    throw UsageError("catalog: model '" + model.name + "' given twice");
  const auto id = static_cast<ModelId>(models.size());
  index.emplace(model.name, id);
  models.push_back(std::move(model));
  percentiles.resize(models.size());
  interference.resize(models.size());
  memory.resize(models.size());
  return id;
}

std::uint64_t Catalog::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& model : models) total += model.size_bytes;
  return total;
}

Catalog parse_paper_csv(std::string_view text, const std::string& source) {
  Catalog catalog;
  std::uint64_t line_number = 0;
  std::vector<std::string_view> header;
  int col_name = -1, col_load = -1, col_exec = -1, col_unload = -1, col_mb = -1;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const auto fields = split(line, ',');
    if (header.empty()) {
      header = fields;
      for (int c = 0; c < static_cast<int>(fields.size()); ++c) {
        const auto f = fields[static_cast<std::size_t>(c)];
        if (f == "name") col_name = c;
        if (f == "avg_load_latency_s" || f == "avg_load_latency") col_load = c;
        if (f == "avg_exec_latency_s" || f == "avg_exec_latency") col_exec = c;
        if (f == "avg_unload_latency_s" || f == "avg_unload_latency") col_unload = c;
        if (f == "weights_mb" || f == "loaded_size") col_mb = c;
      }
      if (col_name < 0 || col_load < 0 || col_exec < 0 || col_unload < 0 || col_mb < 0) {
        throw InputError(
            source, line_number,
            "expected columns "
            "name,avg_load_latency_s,avg_exec_latency_s,avg_unload_latency_s,weights_mb");
      }
      continue;
    }
    if (fields.size() != header.size()) {
      throw InputError(source, line_number,
                       "expected " + std::to_string(header.size()) + " columns, found " +
                           std::to_string(fields.size()));
    }
    const auto number = [&](int column) {
      const auto f = fields[static_cast<std::size_t>(column)];
      double value = 0;
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
      if (ec != std::errc() || end != f.data() + f.size() || !std::isfinite(value) || value < 0) {
        throw InputError(source, line_number,
                         "'" + std::string(f) + "' is not a non-negative number");
      }
      return value;
    };
    ModelInfo model;
    model.name = std::string(fields[static_cast<std::size_t>(col_name)]);
    check_name(model.name, source, line_number, "");
    model.load_latency_s = number(col_load);
    model.exec_latency_s = number(col_exec);
    model.unload_latency_s = number(col_unload);
    model.size_bytes = mb_to_bytes(number(col_mb));
    check_costs(model, source, line_number, "");
    if (catalog.find(model.name))
      throw InputError(source, line_number, "model '" + model.name + "' given twice");
    catalog.add(std::move(model));
  }
  if (catalog.models.empty()) throw InputError(source, 0, "no models");
  return catalog;
}

Catalog parse_catalog_json(std::string_view text, const std::string& source) {
  if (auto simple = detail::parse_simple_catalog_json(text)) return std::move(*simple);
  return detail::parse_catalog_json_document(text, source);
}

Catalog detail::parse_catalog_json_document(std::string_view text, const std::string& source) {
  json document;
  try {
    document = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {  // a syntax error, or a number out of range (406)
    throw InputError(source, 0, std::string("invalid JSON: ") + e.what());
  }
  const json* list = &document;
  if (document.is_object()) {
    const auto found = document.find("models");
    if (found == document.end())
      throw InputError(source, 0, "expected a list of models or an object with \"models\"");
    list = &*found;
  }
  if (!list->is_array()) throw InputError(source, 0, "\"models\" is not a list");
  if (list->empty()) throw InputError(source, 0, "no models");
  Catalog catalog;
  catalog.reserve(list->size());
  std::size_t position = 0;
  for (const auto& entry : *list) {
    std::string where = "model #" + std::to_string(position++) + ": ";
    if (!entry.is_object()) throw InputError(source, 0, where + "not an object");
    const auto name = entry.find("name");
    if (name == entry.end() || !name->is_string())
      throw InputError(source, 0, where + "missing string field 'name'");
    ModelInfo model;
    model.name = name->get<std::string>();
    where = "model '" + model.name + "': ";
    check_name(model.name, source, 0, where);
    const bool paper_schema =
        entry.contains("avg_load_latency") && !entry.contains("load_latency_s");
    if (paper_schema) {
      model.load_latency_s = number_field(entry, "avg_load_latency", source, where, true);
      model.exec_latency_s = number_field(entry, "avg_exec_latency", source, where, true);
      model.unload_latency_s = number_field(entry, "avg_unload_latency", source, where, false);
      const auto size = entry.find("loaded_size");
      if (size == entry.end()) throw InputError(source, 0, where + "missing field 'loaded_size'");
      model.size_bytes = size_field(*size, true, source, where);
    } else {
      model.load_latency_s = number_field(entry, "load_latency_s", source, where, true);
      model.exec_latency_s = number_field(entry, "exec_latency_s", source, where, true);
      model.unload_latency_s = number_field(entry, "unload_latency_s", source, where, false);
      const auto size = entry.find("size_bytes");
      if (size == entry.end()) throw InputError(source, 0, where + "missing field 'size_bytes'");
      model.size_bytes = size_field(*size, false, source, where);
    }
    check_costs(model, source, 0, where);
    if (catalog.find(model.name)) throw InputError(source, 0, where + "given twice");
    const ModelId id = catalog.add(std::move(model));
    for (const auto& [key, value] : entry.items()) {
      if (!is_percentile_key(key)) continue;
      catalog.percentiles[id][key] = number_field(entry, key.c_str(), source, where, true);
    }
    ModelInterference& measured = catalog.interference[id];
    measured.exec_beside_load_s = number_field(entry, kExecBesideLoad, source, where, false);
    measured.load_beside_exec_s = number_field(entry, kLoadBesideExec, source, where, false);
    measured.first_exec_s = number_field(entry, kFirstExec, source, where, false);
    measured.first_load_s = number_field(entry, kFirstLoad, source, where, false);
    measured.exec_cold_s = number_field(entry, kExecCold, source, where, false);
    measured.exec_cold_pause_s = number_field(entry, kExecColdPause, source, where, false);
    ModelMemory& memory = catalog.memory[id];
    for (auto [key, field] : {std::pair{kLoadPeak, &memory.load_peak_bytes},
                              std::pair{kWorkspace, &memory.workspace_bytes}}) {
      if (const auto value = entry.find(key); value != entry.end()) {
        *field = size_field(*value, false, source, where);
      }
    }
  }
  return catalog;
}

Catalog paper_catalog() { return parse_paper_csv(detail::kPaperCatalogCsv, "paper (built-in)"); }

Catalog load_catalog(const std::string& path_or_builtin) {
  if (path_or_builtin == "paper") return paper_catalog();
  if (path_or_builtin.empty()) throw UsageError("empty catalog path (give a JSON file or 'paper')");
  const std::string text = read_file(path_or_builtin);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(path_or_builtin, 0, "empty file");
  const auto dot = path_or_builtin.rfind('.');
  if (dot != std::string::npos && path_or_builtin.substr(dot) == ".csv") {
    return parse_paper_csv(text, path_or_builtin);
  }
  return parse_catalog_json(text, path_or_builtin);
}

void write_catalog(const std::string& path, const Catalog& catalog, bool paper_fields) {
  json models = json::array();
  for (std::size_t m = 0; m < catalog.models.size(); ++m) {
    const auto& model = catalog.models[m];
    json entry;
    entry["name"] = model.name;
    entry["size_bytes"] = model.size_bytes;
    entry["load_latency_s"] = model.load_latency_s;
    entry["exec_latency_s"] = model.exec_latency_s;
    entry["unload_latency_s"] = model.unload_latency_s;
    if (m < catalog.percentiles.size()) {
      for (const auto& [key, value] : catalog.percentiles[m]) entry[key] = value;
    }
    if (m < catalog.interference.size()) {  // written only when measured
      const ModelInterference& measured = catalog.interference[m];
      if (measured.exec_beside_load_s > 0) entry[kExecBesideLoad] = measured.exec_beside_load_s;
      if (measured.load_beside_exec_s > 0) entry[kLoadBesideExec] = measured.load_beside_exec_s;
      if (measured.first_exec_s > 0) entry[kFirstExec] = measured.first_exec_s;
      if (measured.first_load_s > 0) entry[kFirstLoad] = measured.first_load_s;
      if (measured.exec_cold_s > 0) entry[kExecCold] = measured.exec_cold_s;
      if (measured.exec_cold_pause_s > 0) entry[kExecColdPause] = measured.exec_cold_pause_s;
    }
    if (m < catalog.memory.size()) {  // written only when measured
      const ModelMemory& memory = catalog.memory[m];
      if (memory.load_peak_bytes > 0) entry[kLoadPeak] = memory.load_peak_bytes;
      if (memory.workspace_bytes > 0) entry[kWorkspace] = memory.workspace_bytes;
    }
    if (paper_fields) {
      entry["avg_load_latency"] = model.load_latency_s;
      entry["avg_exec_latency"] = model.exec_latency_s;
      entry["avg_unload_latency"] = model.unload_latency_s;
      entry["loaded_size"] = static_cast<double>(model.size_bytes) / kBytesPerMb;
    }
    models.push_back(std::move(entry));
  }
  json document;
  document["format"] = "brulee-catalog";
  document["version"] = 1;
  document["models"] = std::move(models);
  const std::string text = document.dump(2) + "\n";
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) throw UsageError("cannot create " + path);
  const bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  if (std::fclose(file) != 0 || !ok) throw std::runtime_error("writing " + path + " failed");
}

}  // namespace brulee::workload
