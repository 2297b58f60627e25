#include <doctest/doctest.h>

#include <cstddef>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "digitcam/engine/error.hpp"
#include "digitcam/vision/decision.hpp"

using namespace digitcam;
using namespace digitcam::vision;

namespace {

// A prediction that puts `confidence` on `label` and spreads the rest evenly over the other
// classes, as predict() would hand it over (argmax, its probability, a distribution).
Prediction prediction_for(int label, float confidence, int classes = digit_classes) {
  Prediction p;
  p.label = label;
  p.confidence = confidence;
  p.probabilities.assign(static_cast<std::size_t>(classes),
                         (1.0f - confidence) / static_cast<float>(classes - 1));
  p.probabilities[static_cast<std::size_t>(label)] = confidence;
  return p;
}

}  // namespace

TEST_CASE("decision: confident predictions become digits with their box and probabilities") {
  const std::vector<cv::Rect> boxes{{10, 20, 16, 24}, {40, 20, 14, 24}};
  const std::vector<Prediction> predictions{prediction_for(4, 0.97f), prediction_for(7, 0.8f)};
  const std::vector<Detection> detections = decide(boxes, predictions, {});
  REQUIRE(detections.size() == 2);
  CHECK(detections[0].box == boxes[0]);
  CHECK(detections[0].label == 4);
  CHECK(detections[0].confidence == doctest::Approx(0.97f));
  CHECK(detections[0].track == -1);
  CHECK(detections[1].label == 7);
  CHECK(detections[1].probabilities[7] == doctest::Approx(0.8f));
  const float total =
      std::accumulate(detections[1].probabilities.begin(), detections[1].probabilities.end(), 0.0f);
  CHECK(total == doctest::Approx(1.0f));
}

TEST_CASE("decision: candidates below the reject threshold are dropped") {
  const std::vector<cv::Rect> boxes{{0, 0, 10, 10}, {20, 0, 10, 10}, {40, 0, 10, 10}};
  const std::vector<Prediction> predictions{prediction_for(1, 0.59f), prediction_for(2, 0.61f),
                                            prediction_for(3, 0.3f)};
  DecisionOptions options;
  options.reject_threshold = 0.6f;
  const std::vector<Detection> detections = decide(boxes, predictions, options);
  REQUIRE(detections.size() == 1);
  CHECK(detections[0].label == 2);
  CHECK(detections[0].box == boxes[1]);
}

TEST_CASE("decision: keep_rejected reports rejected candidates with label -1 in input order") {
  const std::vector<cv::Rect> boxes{{0, 0, 10, 10}, {20, 0, 10, 10}};
  const std::vector<Prediction> predictions{prediction_for(8, 0.4f), prediction_for(5, 0.9f)};
  DecisionOptions options;
  options.reject_threshold = 0.6f;
  options.keep_rejected = true;
  const std::vector<Detection> detections = decide(boxes, predictions, options);
  REQUIRE(detections.size() == 2);
  CHECK(detections[0].label == -1);
  CHECK(detections[0].box == boxes[0]);
  CHECK(detections[0].confidence == doctest::Approx(0.4f));  // how close its best digit came
  CHECK(detections[1].label == 5);
}

TEST_CASE("decision: a box count that differs from the prediction count is a usage error") {
  const std::vector<cv::Rect> boxes{{0, 0, 10, 10}, {20, 0, 10, 10}, {40, 0, 10, 10}};
  const std::vector<Prediction> predictions{prediction_for(1, 0.9f), prediction_for(2, 0.9f)};
  try {
    decide(boxes, predictions, {});
    FAIL("decide accepted 3 boxes with 2 predictions");
  } catch (const UsageError& error) {
    const std::string message = error.what();
    CHECK_MESSAGE(message.find("3 boxes") != std::string::npos, message);
    CHECK_MESSAGE(message.find("2 predictions") != std::string::npos, message);
  }
}

TEST_CASE("decision: no candidates give no detections") {
  CHECK(decide({}, {}, {}).empty());
}

TEST_CASE("decision: an 11-class model rejects a candidate whose argmax is not-a-digit") {
  const std::vector<cv::Rect> boxes{{0, 0, 10, 10}, {20, 0, 10, 10}};
  // The second crop is "not a digit" with 0.7; its best digit has 0.03.
  const std::vector<Prediction> predictions{prediction_for(6, 0.9f, 11),
                                            prediction_for(10, 0.7f, 11)};
  DecisionOptions options;
  options.reject_threshold = 0.02f;  // low enough that only the extra class can reject it

  const std::vector<Detection> dropped = decide(boxes, predictions, options);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].label == 6);
  CHECK(dropped[0].confidence == doctest::Approx(0.9f));
  CHECK(dropped[0].probabilities[6] == doctest::Approx(0.9f));

  options.keep_rejected = true;
  const std::vector<Detection> kept = decide(boxes, predictions, options);
  REQUIRE(kept.size() == 2);
  CHECK(kept[1].label == -1);
  CHECK(kept[1].confidence == doctest::Approx(0.03f));
}

TEST_CASE("decision: an 11-class model reads a digit that outweighs not-a-digit") {
  Prediction p = prediction_for(3, 0.5f, 11);
  p.probabilities[10] = 0.45f;  // close, but the digit leads
  p.probabilities[0] = 0.05f;
  p.probabilities[1] = p.probabilities[2] = 0.0f;
  const std::vector<Detection> detections =
      decide({{0, 0, 10, 10}}, {p}, {.reject_threshold = 0.4f});
  REQUIRE(detections.size() == 1);
  CHECK(detections[0].label == 3);
  CHECK(detections[0].confidence == doctest::Approx(0.5f));
}

TEST_CASE("decision: reject_unsure marks what is below the threshold and drops it unless kept") {
  const auto at = [](int label, float confidence) {
    Detection d;
    d.label = label;
    d.confidence = confidence;
    return d;
  };
  const std::vector<Detection> tracked{at(3, 0.9f), at(5, 0.4f), at(-1, 0.95f),
                                       at(7, std::numeric_limits<float>::quiet_NaN())};
  DecisionOptions options;
  options.reject_threshold = 0.6f;

  SUBCASE("dropped") {
    std::vector<Detection> d = tracked;
    reject_unsure(d, options);
    REQUIRE(d.size() == 1);
    CHECK(d[0].label == 3);
  }
  SUBCASE("kept with label -1, confidence as it was") {
    options.keep_rejected = true;
    std::vector<Detection> d = tracked;
    reject_unsure(d, options);
    REQUIRE(d.size() == 4);
    CHECK(d[0].label == 3);
    CHECK(d[1].label == -1);
    CHECK(d[1].confidence == doctest::Approx(0.4f));
    CHECK(d[2].label == -1);  // a track that is not a digit stays one, however sure
    CHECK(d[3].label == -1);  // a NaN confidence is not at least the threshold
  }
}
