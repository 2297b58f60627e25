#pragma once
// Optimizers update parameters from their gradients; the learning rate comes from a Schedule at
// each step. State (momenta) is kept per parameter in the order params() gives, and can be saved
// into a checkpoint and restored.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "digitcam/engine/layer.hpp"

namespace digitcam::engine {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  virtual void step(std::span<const Param> params, float learning_rate) = 0;
  void save_state(std::ostream& out) const;
  void load_state(std::istream& in);  // throws IoError when it does not match

 protected:
  // Sizes the slots for these parameters and moves in state restored by load_state().
  void adopt_pending(std::span<const Param> params, int per_param);

  std::vector<Tensor> slots_;    // per parameter: momentum (SGD), or m then v (Adam)
  std::vector<Tensor> pending_;  // state read from a checkpoint before the first step
  std::int64_t steps_ = 0;
};

// SGD with (optionally Nesterov) momentum and L2 weight decay added to the gradient.
class Sgd : public Optimizer {
 public:
  Sgd(float momentum, float weight_decay, bool nesterov = false);
  std::string name() const override { return nesterov_ ? "sgd-nesterov" : "sgd"; }
  void step(std::span<const Param> params, float learning_rate) override;

 private:
  float momentum_, weight_decay_;
  bool nesterov_;
};

// Adam; with decoupled = true it is AdamW (weight decay applied to the weights directly).
class Adam : public Optimizer {
 public:
  Adam(float weight_decay = 0.0f, bool decoupled = false, float beta1 = 0.9f, float beta2 = 0.999f,
       float epsilon = 1e-8f);
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  void step(std::span<const Param> params, float learning_rate) override;

 private:
  float weight_decay_;
  bool decoupled_;
  float beta1_, beta2_, epsilon_;
};

// "sgd", "adam" or "adamw"; throws UsageError otherwise.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float weight_decay,
                                          float momentum = 0.9f);

enum class ScheduleKind { constant, cosine, one_cycle };

// Learning rate as a function of the step: constant; cosine decay from peak to ~0 after a linear
// warm-up; one-cycle (linear up from peak/25 to peak over warmup, then cosine down to peak/1e4).
struct Schedule {
  ScheduleKind kind = ScheduleKind::one_cycle;
  float peak = 1e-3f;
  std::int64_t total_steps = 1;
  float warmup_fraction = 0.2f;

  float at(std::int64_t step) const;
};

ScheduleKind parse_schedule(const std::string& name);  // throws UsageError

}  // namespace digitcam::engine
