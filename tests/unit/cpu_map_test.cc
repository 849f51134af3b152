// SPDX-License-Identifier: Apache-2.0
// Unit tests of cpu-map's resolution into per-thread CPU sets (auto and
// fixed lines, later lines winning, threads past nbthread, the process's
// own CPUs) and of when connections can be steered by CPU.
#include <gtest/gtest.h>

#include "app/cpu_map.h"

namespace sluice::app {
namespace {

config::CpuMapLine line(bool automatic, std::vector<uint32_t> threads, std::vector<uint32_t> cpus) {
  config::CpuMapLine m;
  m.automatic = automatic;
  m.threads = std::move(threads);
  m.cpus = std::move(cpus);
  return m;
}

using Sets = std::vector<std::vector<uint32_t>>;

TEST(CpuMap, AutoGivesEachThreadOneCpuInOrder) {
  Sets got = threadCpus({line(true, {1, 2, 3, 4}, {4, 5, 6, 7})}, 4, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(got, (Sets{{4}, {5}, {6}, {7}}));
  EXPECT_EQ(steeringCpus(got), (std::vector<uint32_t>{4, 5, 6, 7}));
}

TEST(CpuMap, FixedLinesAndLaterLinesWin) {
  Sets got = threadCpus({line(false, {1, 2, 3}, {0, 1}), line(false, {2}, {3})}, 3, {0, 1, 2, 3});
  EXPECT_EQ(got, (Sets{{0, 1}, {3}, {0, 1}}));
  EXPECT_TRUE(steeringCpus(got).empty()) << "threads on two CPUs: no steering";
}

TEST(CpuMap, ThreadsPastNbthreadAndUnequalAutoSetsAreLeftOut) {
  // auto:1/all 0-63 on two threads; auto:1/1-4 0 binds only thread 1 (HAProxy 2.6).
  std::vector<uint32_t> all(256);
  for (uint32_t i = 0; i < 256; ++i) all[i] = i + 1;
  std::vector<uint32_t> cpus(64);
  for (uint32_t i = 0; i < 64; ++i) cpus[i] = i;
  EXPECT_EQ(threadCpus({line(true, all, cpus)}, 2, {0, 1}), (Sets{{0}, {1}}));
  EXPECT_EQ(threadCpus({line(true, {1, 2, 3, 4}, {0})}, 2, {0, 1}), (Sets{{0}, {}}));
}

TEST(CpuMap, OnlyTheProcesssOwnCpus) {
  // The process may use CPUs 2 and 3 (a container's cpuset): thread 1's map
  // to 0-2 leaves 2; thread 2's to 0-1 leaves nothing, so it is not bound.
  Sets got = threadCpus({line(false, {1}, {0, 1, 2}), line(false, {2}, {0, 1})}, 2, {2, 3});
  EXPECT_EQ(got, (Sets{{2}, {}}));
  EXPECT_TRUE(steeringCpus(got).empty());
}

TEST(CpuMap, SteeringNeedsDistinctCpusAndTwoThreads) {
  EXPECT_TRUE(steeringCpus({{1}, {1}}).empty()) << "two threads on one CPU";
  EXPECT_TRUE(steeringCpus({{1}}).empty()) << "one thread: nothing to steer";
  EXPECT_TRUE(steeringCpus({{0}, {}}).empty());
}

// The program: load the CPU, one test and return per thread, and an index
// past the group for any other CPU.
TEST(CpuMap, SteeringProgramReturnsTheThreadOfTheCpu) {
  std::vector<sock_filter> p = steeringProgram({5, 2});
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0].k, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_CPU));
  // A small interpreter of the instructions used, run for each CPU.
  auto run = [&](uint32_t cpu) {
    uint32_t a = 0;
    for (size_t pc = 0; pc < p.size(); ++pc) {
      const sock_filter& f = p[pc];
      if (f.code == (BPF_LD | BPF_W | BPF_ABS)) a = cpu;
      else if (f.code == (BPF_JMP | BPF_JEQ | BPF_K)) pc += a == f.k ? f.jt : f.jf;
      else if (f.code == (BPF_RET | BPF_K)) return f.k;
      else ADD_FAILURE() << "unexpected instruction " << f.code;
    }
    return 0xdeadu;
  };
  EXPECT_EQ(run(5), 0u);
  EXPECT_EQ(run(2), 1u);
  EXPECT_EQ(run(3), 0xffffffffu);
}

}  // namespace
}  // namespace sluice::app
