#pragma once
// Option handling shared by the subcommands (Boost.Program_options underneath).

#include <boost/program_options.hpp>
#include <string>

#include "digitcam/app/commands.hpp"

namespace digitcam::app {

namespace po = boost::program_options;

// Parses args against the description; prints "usage: digitcam <command> [options]" and the
// option list and returns false for --help. Throws UsageError for anything it does not accept.
bool parse_options(const std::string& command, const std::string& summary,
                   const po::options_description& options, const Arguments& args,
                   po::variables_map& values,
                   const po::positional_options_description* positional = nullptr);

// --threads N, shared by every command that computes.
void add_threads_option(po::options_description& options, int& threads);

}  // namespace digitcam::app
