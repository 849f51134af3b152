// SPDX-License-Identifier: Apache-2.0
// "cpu-map": the CPUs each worker thread may run on, and the steering of
// new connections to the thread whose CPU received them.
//
// When every thread is bound to a CPU of its own, each SO_REUSEPORT group of
// listening sockets (one socket per thread, in thread order) gets a classic
// BPF program that picks the socket of the thread bound to the CPU handling
// the incoming SYN. The connection is then accepted, read and forwarded on
// the CPU whose caches already hold it, and no thread is woken on another
// CPU for it (measured in docs/performance.md). A SYN handled on a CPU no
// thread is bound to falls back to the kernel's hash.
#pragma once

#include <linux/filter.h>
#include <pthread.h>

#include <cstdint>
#include <vector>

#include "config/model.h"

namespace sluice::app {

// Per thread (index 0 is thread 1), the CPUs it is bound to, within the
// CPUs the process may use (`allowed`); empty: not bound. Later lines win
// for the threads they name; threads above nbthread are ignored.
std::vector<std::vector<uint32_t>> threadCpus(const std::vector<config::CpuMapLine>& lines, uint32_t nbthread,
                                              const std::vector<uint32_t>& allowed);

// When each thread is bound to exactly one CPU and no two share one, the
// CPU of each thread; otherwise empty (no steering).
std::vector<uint32_t> steeringCpus(const std::vector<std::vector<uint32_t>>& perThread);

// The program for SO_ATTACH_REUSEPORT_CBPF: the index of the socket whose
// thread is bound to the current CPU, or an index past the group (the
// kernel then hashes) for any other CPU.
std::vector<sock_filter> steeringProgram(const std::vector<uint32_t>& cpuOfThread);

// The CPUs this process may run on now (sched_getaffinity).
std::vector<uint32_t> allowedCpus();

// Binds a thread to `cpus`; false with errno on failure.
bool bindThread(pthread_t thread, const std::vector<uint32_t>& cpus);

}  // namespace sluice::app
