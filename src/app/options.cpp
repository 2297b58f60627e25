#include "digitcam/app/options.hpp"

#include <iostream>

#include "digitcam/engine/error.hpp"

namespace digitcam::app {

bool parse_options(const std::string& command, const std::string& summary,
                   const po::options_description& options, const Arguments& args,
                   po::variables_map& values,
                   const po::positional_options_description* positional) {
  po::options_description all = options;
  bool help = false;
  all.add_options()("help,h", po::bool_switch(&help), "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(all);
    if (positional != nullptr) parser.positional(*positional);
    po::store(parser.run(), values);
    po::notify(values);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "; see 'digitcam " + command + " --help'");
  }
  if (help) {
    std::cout << "usage: digitcam " << command << " [options]\n\n" << summary << "\n\n" << all;
    return false;
  }
  return true;
}

void add_threads_option(po::options_description& options, int& threads) {
  options.add_options()("threads", po::value(&threads)->default_value(0),
                        "worker threads (0: every core)");
}

}  // namespace digitcam::app
