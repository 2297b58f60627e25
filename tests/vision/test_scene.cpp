#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"
#include "digitcam/vision/scene.hpp"
#include "support/data_paths.hpp"

using namespace digitcam;

TEST_CASE("scene: the ridge stroke width of a bar and of a ring is their width") {
  for (const int width : {3, 5, 9, 15, 31}) {
    cv::Mat bar(120, 200, CV_8UC1, cv::Scalar(0));
    cv::rectangle(bar, cv::Rect(20, 40, 160, width), cv::Scalar(255), cv::FILLED);
    CHECK_MESSAGE(vision::ridge_stroke_width(bar) == doctest::Approx(width).epsilon(0.05),
                  "bar " << width << " px");
    // A ring: curved strokes measure the same (its true width is its area over its length;
    // cv::circle draws thin rings somewhat wider than asked).
    cv::Mat ring(200, 200, CV_8UC1, cv::Scalar(0));
    cv::circle(ring, {100, 100}, 60, cv::Scalar(255), width);
    const double true_width = cv::countNonZero(ring) / (2 * CV_PI * 60);
    CHECK_MESSAGE(vision::ridge_stroke_width(ring) == doctest::Approx(true_width).epsilon(0.15),
                  "ring " << width << " px, " << true_width << " px by its area");
  }
  // Ink touching the crop's edge (a tight box) is measured from that edge.
  CHECK(vision::ridge_stroke_width(cv::Mat(7, 50, CV_8UC1, cv::Scalar(255))) == doctest::Approx(7));
  CHECK(vision::ridge_stroke_width(cv::Mat(10, 10, CV_8UC1, cv::Scalar(0))) == 0.0);
}

TEST_CASE("scene: no frames is a usage error, and a blank scene fits nothing") {
  class Nothing : public vision::Classifier {
   public:
    Nothing() : Classifier({}, 10) {}
    vision::EngineKind kind() const override { return vision::EngineKind::native; }
    void logits(const engine::Tensor& batch, engine::Tensor& out) override {
      out.resize({batch.shape().n, 10, 1, 1});
      std::fill(out.data(), out.data() + out.size(), 0.0f);
    }
  } classifier;
  vision::SceneOptions options;
  CHECK_THROWS_AS(vision::estimate_scene({}, classifier, options), UsageError);
  const std::vector<cv::Mat> blank(3, cv::Mat(240, 320, CV_8UC3, cv::Scalar(200, 200, 200)));
  const vision::SceneEstimate e = vision::estimate_scene(blank, classifier, options);
  CHECK_FALSE(e.fitted);
  CHECK(e.choices.empty());
  CHECK(e.frames == 3);
  CHECK(e.verdict.find("only 0 digits") != std::string::npos);
  CHECK(e.options.block_fraction == options.start.block_fraction);
}
