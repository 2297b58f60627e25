#include "digitcam/app/cli.hpp"

#include <opencv2/core/utils/logger.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "digitcam/app/commands.hpp"
#include "digitcam/engine/error.hpp"

namespace digitcam::app {

namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(const Arguments&);
};

constexpr Command commands[] = {
    {"run", "read digits from a camera, video, image, folder or stream (the default command)",
     run_command},
    {"draw", "draw digits with the mouse and watch them read live, top 3 and all ten bars",
     draw_command},
    {"eval", "metrics of a model on MNIST's test set, an image folder or OpenCV's digits sheet",
     eval_command},
    {"train", "train a network on MNIST and write it as ONNX with its model card", train_command},
    {"bench", "speed of this engine side by side with OpenCV's dnn on the same model",
     bench_command},
    {"calibrate", "fit the segmentation settings to a scene; writes calibration/NAME.yml",
     calibrate_command},
};

// Width of the command names in the usage list (the longest, "calibrate", and two spaces).
constexpr std::size_t command_column = 11;

void print_usage(std::ostream& out) {
  out << "usage: digitcam <command> [options]\n"
         "       digitcam [SOURCE] [run options]   (same as 'digitcam run')\n"
         "       digitcam --help | --version\n\n"
         "Reads handwritten digits with a CNN engine of its own.\n\ncommands:\n";
  for (const auto& c : commands)
    out << "  " << c.name
        << std::string(command_column - std::min(command_column - 1, c.name.size()), ' ')
        << c.summary << '\n';
  out << "\n'digitcam <command> --help' lists a command's options.\n";
}

// A camera index, an existing file or folder, a URL or a GStreamer pipeline.
bool looks_like_source(const std::string& text) {
  if (text.empty()) return false;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return true;
  }
  std::error_code ec;
  return text.find("://") != std::string::npos || text.find(" ! ") != std::string::npos ||
         std::filesystem::exists(text, ec);
}

bool is_run_option(const std::string& text) {
  return text.size() > 2 && text.rfind("--", 0) == 0 && text != "--help" && text != "--version";
}

}  // namespace

int run_cli(int argc, char** argv) {
  // OpenCV's own warnings (a camera index that does not open, a backend it tried) would add
  // lines to the one clear error line digitcam prints; real errors still come through.
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  const Arguments args(argv + std::min(argc, 1), argv + argc);
  const std::string first = args.empty() ? std::string() : args.front();
  if (first == "--help" || first == "-h" || first == "help") {
    print_usage(std::cout);
    return exit_code::ok;
  }
  if (first == "--version") {
    std::cout << "digitcam " << DIGITCAM_VERSION << '\n';
    return exit_code::ok;
  }
  try {
    for (const auto& c : commands) {
      if (first == c.name) return c.run(Arguments(args.begin() + 1, args.end()));
    }
    // Bare `digitcam`, `digitcam SOURCE ...` and `digitcam --run-option ...` mean `digitcam run`.
    if (args.empty() || looks_like_source(first) || is_run_option(first)) return run_command(args);
    throw UsageError("unknown command or option '" + first + "'; see 'digitcam --help'");
  } catch (const UsageError& e) {
    std::cerr << "digitcam: " << e.what() << '\n';
    return exit_code::usage;
  } catch (const IoError& e) {
    std::cerr << "digitcam: " << e.what() << '\n';
    return exit_code::io;
  } catch (const ModelError& e) {
    std::cerr << "digitcam: " << e.what() << '\n';
    return exit_code::model;
  } catch (const ShapeError& e) {
    std::cerr << "digitcam: " << e.what() << '\n';
    return exit_code::model;
  } catch (const SourceError& e) {
    std::cerr << "digitcam: " << e.what() << '\n';
    return exit_code::source;
  } catch (const std::exception& e) {
    std::cerr << "digitcam: internal error: " << e.what() << '\n';
    return exit_code::failure;
  }
}

}  // namespace digitcam::app
