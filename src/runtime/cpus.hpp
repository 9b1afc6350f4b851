#pragma once
// Where threads run: CPU lists ("0", "1-3", "0,2-3") and placing the calling thread on one, for
// disjoint thread budgets (`serve --exec-cpus/--load-cpus`, `profile` the same; docs/server.md,
// "Queues and threads").
#include <pthread.h>

#include <string>
#include <string_view>
#include <vector>

namespace brulee::runtime {

// The CPUs of a list such as "0", "2-3" or "0,2-3": ascending, each once. Throws
// std::invalid_argument naming what is wrong (empty, a malformed or reversed range, a number
// at or above 1024, the most a cpu_set_t holds).
std::vector<int> parse_cpu_list(std::string_view text);
// "0,2-3" for {0, 2, 3}; "" for none.
std::string format_cpu_list(const std::vector<int>& cpus);
// The CPUs this process may run on now (sched_getaffinity); empty if the kernel does not say.
std::vector<int> allowed_cpus();
// The CPUs the calling thread may run on now.
std::vector<int> thread_cpus();
// Throws std::invalid_argument unless every CPU of `cpus` is one this process may run on.
void check_cpus_allowed(const std::vector<int>& cpus, std::string_view what);
// Names a thread (at most 15 characters are kept; nullptr: its name stays) and, when `cpus` is not
// empty, restricts it to them. False if the kernel refused the CPUs (the thread then runs where it
// did).
bool place_thread(pthread_t thread, const char* name, const std::vector<int>& cpus);
// The same for the calling thread.
bool place_this_thread(const char* name, const std::vector<int>& cpus);

}  // namespace brulee::runtime
