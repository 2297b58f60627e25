#include "digitcam/engine/parallel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <utility>

// ThreadSanitizer cannot see TBB's synchronisation (libtbb is not built with it): without help it
// reports a worker's reads of the caller's data as racing with what the caller does after
// parallel_for returns. The annotations state the ordering TBB guarantees: everything before
// parallel_for happens before each chunk, and each chunk happens before parallel_for returns.
#if defined(__SANITIZE_THREAD__)
#define DIGITCAM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DIGITCAM_TSAN 1
#endif
#endif
#ifdef DIGITCAM_TSAN
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace digitcam::engine {

namespace {

// No-ops but under ThreadSanitizer (see above).
inline void tsan_release([[maybe_unused]] void* token) {
#ifdef DIGITCAM_TSAN
  __tsan_release(token);
#endif
}
inline void tsan_acquire([[maybe_unused]] void* token) {
#ifdef DIGITCAM_TSAN
  __tsan_acquire(token);
#endif
}

}  // namespace

struct ThreadBudget::Control {
  explicit Control(int threads)
      : control(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads)) {}
  tbb::global_control control;
};

ThreadBudget::ThreadBudget(int threads)
    : threads_(threads > 0 ? threads : tbb::info::default_concurrency()) {
  control_ = std::make_unique<Control>(threads_);
}

ThreadBudget::~ThreadBudget() = default;

int available_threads() {
  const auto allowed =
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  return std::max(1, std::min(static_cast<int>(allowed), tbb::this_task_arena::max_concurrency()));
}

// Whether this thread is running a chunk of a parallel_for: per thread, since each TBB worker and
// each caller is in its own place in the nesting.
thread_local bool in_chunk = false;

bool inside_parallel_chunk() {
  return in_chunk;
}

void parallel_for(std::size_t count, std::size_t grain, ChunkBody body) {
  if (count == 0) return;
  grain = std::max<std::size_t>(grain, 1);
  const std::size_t chunks = chunk_count(count, grain);
  if (chunks == 1 || in_chunk || available_threads() == 1) {
    for (std::size_t k = 0; k < chunks; ++k) body(k * grain, std::min(count, (k + 1) * grain));
    return;
  }
  char before = 0, after = 0;  // ThreadSanitizer's synchronisation tokens
  tsan_release(&before);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, chunks, 1),
      [&](const tbb::blocked_range<std::size_t>& r) {
        tsan_acquire(&before);
        // Restored, not cleared, even when the body throws: a worker waiting inside one chunk
        // may run a chunk of another loop meanwhile.
        struct ChunkScope {
          bool was = std::exchange(in_chunk, true);
          ~ChunkScope() { in_chunk = was; }
        } scope;
        for (std::size_t k = r.begin(); k != r.end(); ++k) {
          body(k * grain, std::min(count, (k + 1) * grain));
        }
        tsan_release(&after);
      },
      tbb::simple_partitioner());
  tsan_acquire(&after);
}

}  // namespace digitcam::engine
