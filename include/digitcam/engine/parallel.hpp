#pragma once
// The engine's only door to oneTBB. Work is cut into fixed chunks of `grain` items that do not
// depend on how many threads run them, so per-chunk partial results reduced in chunk order give
// the same numbers for a given seed and thread count (and, in practice, for any thread count).

#include <cstddef>
#include <functional>
#include <memory>

namespace digitcam::engine {

// Caps how many threads the engine uses while it is alive (0 means every core). main owns one;
// commands take it from --threads. Nested budgets restore the outer one on destruction.
class ThreadBudget {
 public:
  explicit ThreadBudget(int threads);
  ~ThreadBudget();
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;
  int threads() const { return threads_; }

 private:
  struct Control;
  std::unique_ptr<Control> control_;
  int threads_;
};

// Threads the engine may use right now.
int available_threads();

// Calls body(begin, end) on chunks [i*grain, min((i+1)*grain, count)), possibly in parallel.
// Runs inline when there is a single chunk, so small work pays no scheduling cost.
void parallel_for(std::size_t count, std::size_t grain,
                  const std::function<void(std::size_t begin, std::size_t end)>& body);

// Number of chunks parallel_for cuts count into; chunk k starts at k*grain.
inline std::size_t chunk_count(std::size_t count, std::size_t grain) {
  return grain == 0 ? 0 : (count + grain - 1) / grain;
}

}  // namespace digitcam::engine
