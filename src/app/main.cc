// SPDX-License-Identifier: Apache-2.0
// sluice: a load balancer for TLS traffic it never decrypts, configured with
// HAProxy's own configuration language. See README.md.
#include <iostream>

#include "app/options.h"
#include "app/process.h"

int main(int argc, char** argv) {
  sluice::app::Options options;
  std::string error;
  if (!sluice::app::parseOptions(argc, argv, options, error)) {
    std::cerr << "sluice: " << error << "\n" << sluice::app::usage();
    return 1;
  }
  return sluice::app::run(options);
}
