#include <doctest/doctest.h>

#include <string>

#include "digitcam/engine/error.hpp"
#include "digitcam/train/metrics.hpp"

using namespace digitcam;
using namespace digitcam::train;

namespace {

// rows = truth, columns = predicted; class 3 never occurs:
//   [5 1 0 0]   support 6
//   [2 3 1 0]   support 6
//   [0 0 4 0]   support 4
//   [0 0 0 0]   support 0
ConfusionMatrix hand_made() {
  ConfusionMatrix c(4);
  const int cells[4][4] = {{5, 1, 0, 0}, {2, 3, 1, 0}, {0, 0, 4, 0}, {0, 0, 0, 0}};
  for (int t = 0; t < 4; ++t) {
    for (int p = 0; p < 4; ++p) {
      for (int n = 0; n < cells[t][p]; ++n) c.add(t, p);
    }
  }
  return c;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("metrics: a confusion matrix counts (truth, predicted) pairs") {
  const ConfusionMatrix c = hand_made();
  CHECK(c.total() == 16);
  CHECK(c.at(1, 0) == 2);
  CHECK(c.row_sum(1) == 6);
  CHECK(c.column_sum(0) == 7);
  ConfusionMatrix d(4);
  CHECK_THROWS_AS(d.add(4, 0), UsageError);
  CHECK_THROWS_AS(d.add(0, -1), UsageError);
}

TEST_CASE("metrics: hand-computed accuracy, precision, recall and F1") {
  const Metrics m = compute_metrics(hand_made());
  CHECK(m.count == 16);
  CHECK(m.accuracy == doctest::Approx(12.0 / 16.0));
  REQUIRE(m.per_class.size() == 4);
  // Precision = hits / predicted, recall = hits / support, F1 = 2 hits / (predicted + support).
  CHECK(m.per_class[0].precision == doctest::Approx(5.0 / 7.0));
  CHECK(m.per_class[0].recall == doctest::Approx(5.0 / 6.0));
  CHECK(m.per_class[0].f1 == doctest::Approx(10.0 / 13.0));
  CHECK(m.per_class[1].precision == doctest::Approx(3.0 / 4.0));
  CHECK(m.per_class[1].recall == doctest::Approx(3.0 / 6.0));
  CHECK(m.per_class[1].f1 == doctest::Approx(6.0 / 10.0));
  CHECK(m.per_class[2].precision == doctest::Approx(4.0 / 5.0));
  CHECK(m.per_class[2].recall == doctest::Approx(1.0));
  CHECK(m.per_class[2].f1 == doctest::Approx(8.0 / 9.0));
  CHECK(m.per_class[2].support == 4);
  // Class 3 occurs neither as truth nor as prediction: zeros, and left out of the averages.
  CHECK(m.per_class[3].precision == 0.0);
  CHECK(m.per_class[3].f1 == 0.0);
  CHECK(m.precision_macro == doctest::Approx((5.0 / 7 + 3.0 / 4 + 4.0 / 5) / 3));
  CHECK(m.recall_macro == doctest::Approx((5.0 / 6 + 3.0 / 6 + 1.0) / 3));
  CHECK(m.f1_macro == doctest::Approx((10.0 / 13 + 6.0 / 10 + 8.0 / 9) / 3));
}

TEST_CASE("metrics: an empty matrix gives zeros, not NaN") {
  const Metrics m = compute_metrics(ConfusionMatrix(10));
  CHECK(m.count == 0);
  CHECK(m.accuracy == 0.0);
  CHECK(m.f1_macro == 0.0);
  CHECK_FALSE(contains(to_json(m), "nan"));
}

TEST_CASE("metrics: the JSON object has exactly the agreed keys and the confusion rows") {
  const std::string json = to_json(compute_metrics(hand_made()));
  CHECK(json.front() == '{');
  CHECK(json.back() == '}');
  for (const char* key : {"\"accuracy\": 0.75", "\"precision_macro\": ", "\"recall_macro\": ",
                          "\"f1_macro\": ", "\"count\": 16", "\"per_class\": [",
                          "\"confusion\": [[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]]",
                          "{\"label\": 2, \"precision\": 0.8, \"recall\": 1, \"f1\": 0.888889, "
                          "\"support\": 4}"}) {
    CHECK_MESSAGE(contains(json, key), key << " in " << json);
  }
  int depth = 0, lowest = 0;
  for (char ch : json) {
    depth += (ch == '{' || ch == '[') - (ch == '}' || ch == ']');
    lowest = std::min(lowest, depth);
  }
  CHECK(depth == 0);
  CHECK(lowest == 0);
}

TEST_CASE("metrics: the text table shows the summary, every class and the confusion matrix") {
  const std::string table = to_table(compute_metrics(hand_made()));
  CHECK_MESSAGE(contains(table, "16 images: accuracy  75.00%"), table);
  CHECK_MESSAGE(contains(table, "confusion (rows: true class, columns: predicted)"), table);
  CHECK_MESSAGE(contains(table, "     1     2     3     1     0"), table);
}
