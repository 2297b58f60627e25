#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/gemm.hpp"
#include "digitcam/engine/parallel.hpp"

using namespace digitcam::engine;

namespace {

// One gemm call: op(A) is m x k, op(B) is k x n; leading dimensions carry `pad` unused columns
// so strided sub-matrices are exercised too.
struct Case {
  int m, n, k;
  Transpose ta, tb;
  float alpha, beta;
  int pad = 3;
  std::uint64_t seed = 1;
};

std::string describe(const Case& t) {
  return "m " + std::to_string(t.m) + " n " + std::to_string(t.n) + " k " + std::to_string(t.k) +
         " trans_a " + std::to_string(t.ta == Transpose::yes) + " trans_b " +
         std::to_string(t.tb == Transpose::yes) + " alpha " + std::to_string(t.alpha) + " beta " +
         std::to_string(t.beta) + " pad " + std::to_string(t.pad) + " seed " +
         std::to_string(t.seed);
}

struct Operands {
  int lda, ldb, ldc;
  std::vector<float> a, b, c;
};

Operands make_operands(const Case& t) {
  Operands o;
  const int a_rows = t.ta == Transpose::yes ? t.k : t.m;
  const int a_cols = t.ta == Transpose::yes ? t.m : t.k;
  const int b_rows = t.tb == Transpose::yes ? t.n : t.k;
  const int b_cols = t.tb == Transpose::yes ? t.k : t.n;
  o.lda = a_cols + t.pad;
  o.ldb = b_cols + t.pad;
  o.ldc = t.n + t.pad;
  std::mt19937_64 rng(t.seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  o.a.resize(static_cast<std::size_t>(a_rows) * o.lda);
  o.b.resize(static_cast<std::size_t>(b_rows) * o.ldb);
  o.c.resize(static_cast<std::size_t>(t.m) * o.ldc);
  for (float& v : o.a) v = dist(rng);
  for (float& v : o.b) v = dist(rng);
  for (float& v : o.c) v = dist(rng);
  return o;
}

// Checks gemm against gemm_reference within the worst-case bound of a k-term float sum,
// (k + 2) * eps * (|alpha| sum |a b| + |beta c|), and that the padding columns of C are untouched.
void check_against_reference(const Case& t) {
  Operands o = make_operands(t);
  std::vector<float> fast = o.c, slow = o.c;
  gemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
       fast.data(), o.ldc);
  gemm_reference(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
                 slow.data(), o.ldc);
  std::vector<float> abs_a = o.a, abs_b = o.b, scale = o.c;
  for (float& v : abs_a) v = std::abs(v);
  for (float& v : abs_b) v = std::abs(v);
  for (float& v : scale) v = std::abs(v);
  gemm_reference(t.ta, t.tb, t.m, t.n, t.k, std::abs(t.alpha), abs_a.data(), o.lda, abs_b.data(),
                 o.ldb, std::abs(t.beta), scale.data(), o.ldc);
  const double eps = (t.k + 2) * static_cast<double>(FLT_EPSILON);
  int wrong = 0;
  for (int i = 0; i < t.m; ++i) {
    for (int j = 0; j < t.n + t.pad; ++j) {
      const std::size_t at = static_cast<std::size_t>(i) * o.ldc + j;
      const bool ok =
          j >= t.n ? fast[at] == o.c[at]  // padding columns stay untouched
                   : std::abs(static_cast<double>(fast[at]) - slow[at]) <= eps * scale[at] + 1e-30;
      if (!ok && wrong++ < 3) {
        CHECK_MESSAGE(false, describe(t) << ": C(" << i << ", " << j << ") = " << fast[at]
                                         << ", reference " << slow[at] << ", was " << o.c[at]);
      }
    }
  }
  CHECK_MESSAGE(wrong == 0, describe(t) << ": " << wrong << " elements wrong");
}

const Transpose both[] = {Transpose::no, Transpose::yes};

// Shapes around the register tile (6x16), the k-block (384), the dot path's tile (2x4), lanes
// (8) and k-block (1024), and the sizes the networks use.
const int shapes[][3] = {{1, 1, 1},     {7, 13, 5},     {6, 16, 8},     {5, 17, 9},
                         {12, 32, 17},  {65, 33, 129},  {13, 100, 385}, {64, 121, 288},
                         {1, 128, 300}, {30, 1, 70},    {200, 47, 31},  {3, 9, 2500},
                         {32, 9, 1100}, {2, 300, 1030}, {17, 15, 1031}, {16, 16, 16}};

}  // namespace

TEST_CASE("gemm: matches the reference on odd shapes with every transpose") {
  std::uint64_t seed = 1;
  for (const auto& s : shapes) {
    for (const Transpose ta : both) {
      for (const Transpose tb : both) {
        check_against_reference({s[0], s[1], s[2], ta, tb, 1.0f, 0.0f, 3, seed++});
      }
    }
  }
}

TEST_CASE("gemm: matches the reference on large shapes that use several tasks") {
  const int large[][3] = {{64, 7744, 288}, {64, 288, 1000}, {288, 777, 64}, {333, 555, 777}};
  std::uint64_t seed = 100;
  for (const auto& s : large) {
    for (const Transpose ta : both) {
      for (const Transpose tb : both) {
        check_against_reference({s[0], s[1], s[2], ta, tb, 1.0f, 1.0f, 1, seed++});
      }
    }
  }
}

TEST_CASE("gemm: applies alpha and beta as BLAS does") {
  const float alphas[] = {1.0f, -0.5f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.25f, -1.0f};
  std::uint64_t seed = 200;
  for (const float alpha : alphas) {
    for (const float beta : betas) {
      check_against_reference({23, 37, 41, Transpose::no, Transpose::yes, alpha, beta, 2, seed++});
      check_against_reference({9, 70, 400, Transpose::yes, Transpose::no, alpha, beta, 0, seed++});
    }
  }
}

TEST_CASE("gemm: beta zero never reads C, so NaN in C does not leak out") {
  for (const Transpose ta : both) {
    for (const Transpose tb : both) {
      const Case t{19, 35, 27, ta, tb, 1.5f, 0.0f, 0, 300};
      Operands o = make_operands(t);
      std::vector<float> c(o.c.size(), std::numeric_limits<float>::quiet_NaN());
      gemm(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, 0.0f, c.data(),
           o.ldc);
      std::vector<float> expected(o.c.size());
      gemm_reference(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, 0.0f,
                     expected.data(), o.ldc);
      for (std::size_t i = 0; i < c.size(); ++i) {
        REQUIRE_MESSAGE(std::isfinite(c[i]), describe(t) << ": NaN at " << i);
        CHECK_MESSAGE(std::abs(c[i] - expected[i]) < 1e-4f, describe(t) << ": element " << i);
      }
    }
  }
}

TEST_CASE("gemm: k zero or alpha zero only scales C by beta") {
  std::vector<float> a(4, std::numeric_limits<float>::quiet_NaN()), b = a;
  std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f};
  gemm(Transpose::no, Transpose::no, 2, 2, 0, 1.0f, a.data(), 2, b.data(), 2, 0.5f, c.data(), 2);
  CHECK(c == std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f});
  gemm(Transpose::no, Transpose::no, 2, 2, 2, 0.0f, a.data(), 2, b.data(), 2, 2.0f, c.data(), 2);
  CHECK(c == std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f});
  c.assign(4, std::numeric_limits<float>::quiet_NaN());
  gemm(Transpose::no, Transpose::no, 2, 2, 0, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  CHECK(c == std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f});
}

TEST_CASE("gemm: results are bitwise identical on one and two threads") {
  const int sizes[][3] = {{64, 7744, 288}, {64, 288, 7744}, {288, 2000, 64},
                          {100, 90, 1500}, {32, 9, 43264},  {1, 128, 1600}};
  std::uint64_t seed = 400;
  for (const auto& s : sizes) {
    for (const Transpose ta : both) {
      for (const Transpose tb : both) {
        const Case t{s[0], s[1], s[2], ta, tb, 1.0f, 1.0f, 0, seed++};
        Operands o = make_operands(t);
        std::vector<float> one = o.c, two = o.c;
        {
          ThreadBudget budget(1);
          gemm(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
               one.data(), o.ldc);
        }
        {
          ThreadBudget budget(2);
          gemm(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
               two.data(), o.ldc);
        }
        CHECK_MESSAGE(one == two, describe(t));
      }
    }
  }
}

TEST_CASE("gemm: gemm_serial gives the same bits as gemm") {
  const int sizes[][3] = {{64, 121, 288}, {64, 288, 121}, {32, 9, 676}, {1, 128, 1600}};
  std::uint64_t seed = 450;
  for (const auto& s : sizes) {
    for (const Transpose ta : both) {
      for (const Transpose tb : both) {
        const Case t{s[0], s[1], s[2], ta, tb, 1.0f, 0.5f, 0, seed++};
        Operands o = make_operands(t);
        std::vector<float> threaded = o.c, serial = o.c;
        gemm(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
             threaded.data(), o.ldc);
        gemm_serial(ta, tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
                    serial.data(), o.ldc);
        CHECK_MESSAGE(threaded == serial, describe(t));
      }
    }
  }
}

TEST_CASE("gemm: the portable kernel matches the reference as well") {
  gemm_use_portable_kernel(true);
  CHECK(std::string(gemm_kernel_name()) == "portable");
  std::uint64_t seed = 500;
  for (const auto& s : shapes) {
    for (const Transpose ta : both) {
      for (const Transpose tb : both) {
        check_against_reference({s[0], s[1], s[2], ta, tb, 0.5f, 1.0f, 1, seed++});
      }
    }
  }
  check_against_reference({64, 2000, 288, Transpose::no, Transpose::no, 1.0f, 0.0f, 0, seed++});
  gemm_use_portable_kernel(false);
}

TEST_CASE("gemm: gemm_rows of a packed matrix gives those rows of the whole product, bit for bit") {
  // k 400 is two k-blocks, so each block's panels are found at the right place for a row range.
  for (const int k : {48, 400}) {
    const Case t{96, 37, k, Transpose::no, Transpose::no, 1.0f, 0.0f, 0, 700};
    Operands o = make_operands(t);
    PackedMatrix packed;
    packed.pack(Transpose::no, t.m, t.k, o.a.data(), o.lda);
    std::vector<float> whole = o.c;
    gemm(packed, Transpose::no, t.n, 1.0f, o.b.data(), o.ldb, 0.0f, whole.data(), o.ldc, 2);
    const int step = gemm_micro_tile().rows;
    for (const auto& [first, rows] : {std::pair{0, 48}, std::pair{48, 48}, std::pair{step, 7}}) {
      std::vector<float> part(static_cast<std::size_t>(rows) * o.ldc, -7.0f);
      gemm_rows(packed, first, rows, Transpose::no, t.n, 1.0f, o.b.data(), o.ldb, 0.0f, part.data(),
                o.ldc, 1);
      CHECK_MESSAGE(std::equal(part.begin(), part.end(), whole.begin() + first * o.ldc),
                    describe(t) << ", rows " << first << " + " << rows);
    }
  }
}

TEST_CASE("gemm: gemm_rows refuses a row range that does not start on a packed panel") {
  std::vector<float> a(12 * 4, 1.0f), b(4 * 3, 1.0f), c(12 * 3);
  PackedMatrix packed;
  packed.pack(Transpose::no, 12, 4, a.data(), 4);
  const int step = gemm_micro_tile().rows;
  const std::string not_on_panel = "multiple of " + std::to_string(step);
  CHECK_THROWS_WITH_AS(
      gemm_rows(packed, step - 1, 2, Transpose::no, 3, 1.0f, b.data(), 3, 0.0f, c.data(), 3, 1),
      doctest::Contains(not_on_panel.c_str()), digitcam::ShapeError);
  CHECK_THROWS_WITH_AS(
      gemm_rows(packed, 0, 13, Transpose::no, 3, 1.0f, b.data(), 3, 0.0f, c.data(), 3, 1),
      doctest::Contains("12-row matrix"), digitcam::ShapeError);
}
