#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/optimizer.hpp"

using namespace digitcam;
using namespace digitcam::engine;

namespace {

// Minimises f(w) = 0.5 * sum (w - target)^2 and returns the final distance to the target.
double minimise(Optimizer& opt, float lr, int steps) {
  Tensor w({1, 1, 1, 4}), g({1, 1, 1, 4});
  const float target[] = {1.0f, -2.0f, 3.0f, 0.5f};
  const Param params[] = {{"w", &w, &g, false}};
  for (int s = 0; s < steps; ++s) {
    for (int i = 0; i < 4; ++i) g.data()[i] = w.data()[i] - target[i];
    opt.step(params, lr);
  }
  double distance = 0;
  for (int i = 0; i < 4; ++i) distance += std::abs(w.data()[i] - target[i]);
  return distance;
}

}  // namespace

TEST_CASE("optimizer: sgd, adam and adamw reach the minimum of a quadratic") {
  for (const char* name : {"sgd", "adam", "adamw"}) {
    auto opt = make_optimizer(name, 0.0f);
    CHECK_MESSAGE(minimise(*opt, 0.05f, 500) < 1e-2, name);
  }
}

TEST_CASE("optimizer: adam's first step moves each weight by the learning rate") {
  Adam adam;
  Tensor w({1, 1, 1, 2}), g({1, 1, 1, 2});
  g.data()[0] = 5.0f;
  g.data()[1] = -0.001f;
  const Param params[] = {{"w", &w, &g, true}};
  adam.step(params, 0.1f);
  CHECK(w.data()[0] == doctest::Approx(-0.1f).epsilon(1e-4));
  CHECK(w.data()[1] == doctest::Approx(0.1f).epsilon(1e-3));
}

TEST_CASE("optimizer: adamw decays weights directly, adam through the gradient") {
  Tensor w({1, 1, 1, 1}), g({1, 1, 1, 1});
  w.data()[0] = 1.0f;
  const Param params[] = {{"w", &w, &g, true}};
  Adam adamw(0.5f, true);
  adamw.step(params, 0.1f);  // zero gradient: only the decay acts
  CHECK(w.data()[0] == doctest::Approx(1.0f - 0.1f * 0.5f));
  // Parameters marked decay = false are left alone.
  Tensor b({1, 1, 1, 1}), gb({1, 1, 1, 1});
  b.data()[0] = 1.0f;
  const Param bias[] = {{"b", &b, &gb, false}};
  Adam other(0.5f, true);
  other.step(bias, 0.1f);
  CHECK(b.data()[0] == 1.0f);
}

TEST_CASE("optimizer: state saved and loaded continues exactly where it stopped") {
  auto run = [](bool interrupt) {
    Tensor w({1, 1, 1, 3}), g({1, 1, 1, 3});
    const Param params[] = {{"w", &w, &g, true}};
    auto opt = make_optimizer("adamw", 0.01f);
    for (int s = 0; s < 10; ++s) {
      if (interrupt && s == 5) {
        std::stringstream saved;
        opt->save_state(saved);
        opt = make_optimizer("adamw", 0.01f);
        opt->load_state(saved);
      }
      for (int i = 0; i < 3; ++i) g.data()[i] = w.data()[i] - static_cast<float>(i + 1);
      opt->step(params, 0.1f);
    }
    return std::vector<float>(w.data(), w.data() + 3);
  };
  CHECK(run(false) == run(true));
}

TEST_CASE("optimizer: garbage state and unknown names are clear errors") {
  auto opt = make_optimizer("adam", 0.0f);
  std::stringstream junk("not a checkpoint at all");
  CHECK_THROWS_AS(opt->load_state(junk), IoError);
  CHECK_THROWS_WITH_AS(make_optimizer("rmsprop", 0.0f),
                       doctest::Contains("unknown optimizer 'rmsprop'"), UsageError);
}

TEST_CASE("schedule: one-cycle rises to the peak then falls; cosine ends near zero") {
  Schedule one{ScheduleKind::one_cycle, 1e-2f, 1000, 0.3f};
  CHECK(one.at(0) == doctest::Approx(1e-2f / 25));
  CHECK(one.at(300) == doctest::Approx(1e-2f));
  CHECK(one.at(1000) == doctest::Approx(1e-6f).epsilon(1e-3));
  CHECK(one.at(150) < one.at(300));
  CHECK(one.at(600) < one.at(300));
  Schedule cosine{ScheduleKind::cosine, 1e-2f, 1000, 0.0f};
  CHECK(cosine.at(1000) < 1e-6f);
  CHECK(cosine.at(500) == doctest::Approx(5e-3f).epsilon(1e-2));
  Schedule flat{ScheduleKind::constant, 3e-3f, 10, 0.0f};
  CHECK(flat.at(7) == 3e-3f);
  CHECK_THROWS_AS(parse_schedule("exponential"), UsageError);
}
