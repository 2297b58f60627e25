#pragma once
// The engine's only door to oneTBB. Work is cut into fixed chunks of `grain` items that do not
// depend on how many threads run them, so per-chunk partial results reduced in chunk order give
// the same numbers for a given seed and thread count (and, in practice, for any thread count).

#include <cstddef>
#include <memory>
#include <type_traits>

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

// Whether this thread is running a chunk of a parallel_for: a parallel_for called now runs its
// chunks inline, one after the other, whatever available_threads() says.
bool inside_parallel_chunk();

// A non-owning reference to a callable body(begin, end). Unlike std::function it never
// allocates, so parallel loops in the training and inference hot paths stay allocation-free.
// It must not outlive the callable it refers to (a lambda passed straight to parallel_for is fine).
class ChunkBody {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, ChunkBody>>>
  ChunkBody(F&& body)  // NOLINT(google-explicit-constructor): lambdas convert implicitly
      : object_(const_cast<void*>(static_cast<const void*>(&body))),
        call_([](void* object, std::size_t begin, std::size_t end) {
          (*static_cast<std::remove_reference_t<F>*>(object))(begin, end);
        }) {}
  void operator()(std::size_t begin, std::size_t end) const { call_(object_, begin, end); }

 private:
  void* object_;
  void (*call_)(void*, std::size_t, std::size_t);
};

// Calls body(begin, end) on chunks [i*grain, min((i+1)*grain, count)), possibly in parallel.
// Runs inline when there is a single chunk, so small work pays no scheduling cost, and when called
// from inside another parallel_for's chunk: the outer loop already has every thread busy (frames
// side by side, each with its own loops), and splitting again only adds scheduling. Every caller
// cuts its work the same way either way, so results do not depend on it.
void parallel_for(std::size_t count, std::size_t grain, ChunkBody body);

// Number of chunks parallel_for cuts count into; chunk k starts at k*grain.
inline std::size_t chunk_count(std::size_t count, std::size_t grain) {
  return grain == 0 ? 0 : (count + grain - 1) / grain;
}

}  // namespace digitcam::engine
