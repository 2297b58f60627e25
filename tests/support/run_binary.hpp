#pragma once
// Runs the real digitcam binary for end-to-end tests and captures what it printed.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace digitcam::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs binary (a path) with arguments, which are passed to /bin/sh as they are: quote paths that
// may hold spaces.
inline RunResult run_program(const std::string& binary, const std::string& arguments) {
  static int counter = 0;
  const auto folder =
      std::filesystem::temp_directory_path() /
      ("digitcam-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(folder);
  const auto out = folder / "stdout", err = folder / "stderr";
  const std::string command = "'" + binary + "' " + arguments + " >'" + out.string() + "' 2>'" +
                              err.string() + "' </dev/null";
  const int status = std::system(command.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove_all(folder);
  return r;
}

inline RunResult run_digitcam(const std::string& arguments) {
  return run_program(DIGITCAM_BINARY, arguments);
}

// Starts the real binary in the background (through /bin/sh, which execs it, so the pid is
// digitcam's own), stdout and stderr to the files named; stdin from /dev/null. Wait with
// wait_digitcam(); signal it with ::kill(pid, ...).
inline pid_t spawn_digitcam(const std::string& arguments, const std::filesystem::path& out,
                            const std::filesystem::path& err) {
  const std::string command = std::string("exec '") + DIGITCAM_BINARY + "' " + arguments + " >'" +
                              out.string() + "' 2>'" + err.string() + "' </dev/null";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The exit code of a spawned binary (128 + signal when a signal ended it).
inline int wait_digitcam(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A fresh empty folder under the system temp dir, removed when the object goes.
class TempFolder {
 public:
  explicit TempFolder(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              ("digitcam-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace digitcam::test
