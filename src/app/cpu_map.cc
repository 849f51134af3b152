// SPDX-License-Identifier: Apache-2.0
// "cpu-map" resolved into per-thread CPU sets, and the steering program.
// See cpu_map.h.
#include "app/cpu_map.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <set>

namespace sluice::app {

std::vector<std::vector<uint32_t>> threadCpus(const std::vector<config::CpuMapLine>& lines, uint32_t nbthread,
                                              const std::vector<uint32_t>& allowed) {
  std::vector<std::vector<uint32_t>> out(nbthread);
  for (const config::CpuMapLine& m : lines) {
    if (m.automatic) {
      // The i-th thread named gets the i-th CPU, both counted from the
      // lowest; when the sets differ in size the extra ones are left out
      // (HAProxy 2.6 does the same, without a word).
      size_t n = std::min(m.threads.size(), m.cpus.size());
      for (size_t i = 0; i < n; ++i) {
        if (m.threads[i] <= nbthread) out[m.threads[i] - 1] = {m.cpus[i]};
      }
    } else {
      for (uint32_t t : m.threads) {
        if (t <= nbthread) out[t - 1] = m.cpus;
      }
    }
  }
  // A thread is bound to what its mapping and the process's allow together;
  // when nothing is left it is not bound at all (as HAProxy).
  for (std::vector<uint32_t>& cpus : out) {
    std::vector<uint32_t> both;
    std::set_intersection(cpus.begin(), cpus.end(), allowed.begin(), allowed.end(), std::back_inserter(both));
    cpus = std::move(both);
  }
  return out;
}

std::vector<uint32_t> steeringCpus(const std::vector<std::vector<uint32_t>>& perThread) {
  std::vector<uint32_t> out;
  std::set<uint32_t> seen;
  for (const std::vector<uint32_t>& cpus : perThread) {
    if (cpus.size() != 1 || !seen.insert(cpus.front()).second) return {};
    out.push_back(cpus.front());
  }
  return perThread.size() > 1 ? out : std::vector<uint32_t>{};
}

std::vector<sock_filter> steeringProgram(const std::vector<uint32_t>& cpuOfThread) {
  std::vector<sock_filter> p;
  p.push_back({BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_CPU)});
  for (uint32_t t = 0; t < cpuOfThread.size(); ++t) {
    p.push_back({BPF_JMP | BPF_JEQ | BPF_K, 0, 1, cpuOfThread[t]});  // this CPU: next; else skip the return
    p.push_back({BPF_RET | BPF_K, 0, 0, t});
  }
  p.push_back({BPF_RET | BPF_K, 0, 0, 0xffffffffu});
  return p;
}

std::vector<uint32_t> allowedCpus() {
  std::vector<uint32_t> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (uint32_t c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

bool bindThread(pthread_t thread, const std::vector<uint32_t>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t c : cpus) {
    if (c < CPU_SETSIZE) CPU_SET(c, &set);
  }
  int rc = pthread_setaffinity_np(thread, sizeof set, &set);
  if (rc != 0) errno = rc;
  return rc == 0;
}

}  // namespace sluice::app
