#pragma once
// One function per subcommand. Each parses its own options (argv after the command name), does
// its job, and returns an exit code or throws a digitcam::Error that run_cli maps to one.

#include <string>
#include <vector>

namespace digitcam::app {

using Arguments = std::vector<std::string>;

int run_command(const Arguments& args);
int draw_command(const Arguments& args);
int train_command(const Arguments& args);
int eval_command(const Arguments& args);
int bench_command(const Arguments& args);
int calibrate_command(const Arguments& args);

}  // namespace digitcam::app
