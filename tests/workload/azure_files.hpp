#pragma once
// Writers of small files in the exact formats of the Azure Functions public traces.
#include <map>
#include <string>
#include <vector>

namespace brulee::workload::testing {

struct AzureRow {
  std::string owner, app, function, trigger;
  std::map<int, int> counts;  // minute (1..1440) -> invocations; others are 0
};

inline std::string azure2019_header() {
  std::string text = "HashOwner,HashApp,HashFunction,Trigger";
  for (int minute = 1; minute <= 1440; ++minute) text += "," + std::to_string(minute);
  return text + "\n";
}

inline std::string azure2019_row(const AzureRow& row) {
  std::string text = row.owner + "," + row.app + "," + row.function + "," + row.trigger;
  for (int minute = 1; minute <= 1440; ++minute) {
    const auto found = row.counts.find(minute);
    text += "," + std::to_string(found == row.counts.end() ? 0 : found->second);
  }
  return text + "\n";
}

inline std::string azure2019_file(const std::vector<AzureRow>& rows) {
  std::string text = azure2019_header();
  for (const auto& row : rows) text += azure2019_row(row);
  return text;
}

}  // namespace brulee::workload::testing
