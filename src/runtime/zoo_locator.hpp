#pragma once
// Finding and running the zoo exporter (zoo/export.py) for `brulee zoo` (docs/zoo.md).
#include <string>
#include <vector>

namespace brulee::runtime {

// Where export.py is looked for, in order: $BRULEE_ZOO_SCRIPT; <exe dir>/zoo/export.py and its
// parents' zoo/ (a build tree inside the source tree); <exe dir>/../share/brulee/zoo/export.py
// (installed); the source tree this binary was built from; the install prefix it was configured
// with. Returns the first that exists; throws std::runtime_error listing the places searched.
std::string find_zoo_script();
std::vector<std::string> zoo_script_candidates();

// The interpreter: $BRULEE_PYTHON, else /usr/bin/python3 (Debian's, which sees python3-torch).
std::string zoo_python();

struct ProcessResult {
  int exit_code = 0;       // 128 + signal if killed by a signal
  std::string error_text;  // what the child wrote on stderr
};
// Runs argv[0] with argv (no shell); stdout is inherited, stderr captured (and echoed when
// `echo_stderr`). Throws std::runtime_error if it cannot start.
ProcessResult run_process(const std::vector<std::string>& argv, bool echo_stderr);

}  // namespace brulee::runtime
