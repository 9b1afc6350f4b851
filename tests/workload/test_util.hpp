#pragma once
// Helpers for the workload tests: the shared temporary folder and file helpers
// (tests/support/temp_dir.hpp).
#include "temp_dir.hpp"

namespace brulee::workload::testing {

using test_support::read_file;
using test_support::TempDir;

}  // namespace brulee::workload::testing
