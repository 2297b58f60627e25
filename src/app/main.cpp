// Thin entry point: everything lives in digitcam_app.
#include "digitcam/app/cli.hpp"

int main(int argc, char** argv) {
  return digitcam::app::run_cli(argc, argv);
}
