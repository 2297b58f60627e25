#pragma once
// The command line: `digitcam <command> [options]`, git style. Only main calls run_cli; it maps
// every digitcam::Error to one line on stderr and a documented exit code.

namespace digitcam::app {

// Exit codes, documented in README.md.
namespace exit_code {
constexpr int ok = 0;
constexpr int failure = 1;        // an unexpected internal error
constexpr int usage = 2;          // bad option or argument
constexpr int io = 3;             // a file could not be read or written (data, outputs)
constexpr int model = 4;          // a model file is missing, corrupt or unsupported
constexpr int source = 5;         // a camera, video, image or stream could not be opened or read
constexpr int interrupted = 130;  // stopped by SIGINT/SIGTERM after writing complete outputs
}  // namespace exit_code

int run_cli(int argc, char** argv);

}  // namespace digitcam::app
