// Thin entry point: everything lives in digitcam_app. Before it, two process-wide settings that
// only an executable may make.
#include <csignal>
#include <cstdlib>

#include "digitcam/app/cli.hpp"

namespace {

// FFmpeg's own log level for OpenCV's video backend (read when OpenCV first opens a video):
// AV_LOG_QUIET. A damaged video otherwise spills decoder chatter ("Error at MB: 82") around
// digitcam's one clear line; digitcam reports cut or damaged files itself. Set the variable in
// the environment to see FFmpeg's messages again.
constexpr const char* ffmpeg_log_level_variable = "OPENCV_FFMPEG_LOGLEVEL";
constexpr const char* ffmpeg_log_quiet = "-8";

}  // namespace

int main(int argc, char** argv) {
  ::setenv(ffmpeg_log_level_variable, ffmpeg_log_quiet, /*overwrite=*/0);
  // Past a file size limit (ulimit -f) a write fails with EFBIG, which digitcam reports like a
  // full disk, with the files complete up to there; the default action would kill the process
  // mid-write instead.
  std::signal(SIGXFSZ, SIG_IGN);
  return digitcam::app::run_cli(argc, argv);
}
