#include "digitcam/app/cli.hpp"

#include <iostream>

namespace digitcam::app {

int run_cli(int /*argc*/, char** /*argv*/) {
  std::cerr << "digitcam: not yet wired\n";
  return exit_code::failure;
}

}  // namespace digitcam::app
