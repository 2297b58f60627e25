#include "digitcam/vision/overlay.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

namespace digitcam::vision {

namespace {

// Look of the overlay, scaled with the frame so it reads the same at 320x240 and 1920x1080.
const cv::Scalar sure_colour(60, 220, 60);     // BGR green: confident digits
const cv::Scalar unsure_colour(0, 200, 255);   // amber: confidence below unsure_below
const cv::Scalar rejected_colour(90, 90, 90);  // grey: rejected candidates (when kept)
const cv::Scalar number_colour(255, 200, 40);  // light blue: numbers read
const cv::Scalar band_colour(0, 0, 0);
const cv::Scalar text_colour(255, 255, 255);
constexpr float unsure_below = 0.9f;
constexpr double digit_label_scale = 0.75;  // of the HUD's text size
constexpr double reference_height = 480.0;  // frame height at which scale 1 looks right
constexpr int crop_zoom = 3;                // debug strip: 28x28 crops shown at 84x84
constexpr double mask_share = 0.25;         // debug mask: a quarter of the frame's width
// Reading panel of `digitcam draw`, in panel pixels.
const cv::Scalar panel_colour(245, 245, 245);
const cv::Scalar panel_ink(40, 40, 40);
const cv::Scalar bar_track_colour(225, 225, 225);  // the empty part of a bar
constexpr int panel_margin = 14;
constexpr int headline_baseline = 78;
constexpr double headline_scale = 2.4;  // a digit or number
constexpr double no_digit_scale = 1.3;  // "no digit" is long: smaller, still the loudest line
constexpr int headline_thickness = 4;
constexpr int top_first_baseline = 118;  // the top-3 lines
constexpr int top_line_step = 24;
constexpr double panel_text_scale = 0.6;
constexpr int bars_top = 196;  // ten rows of bars below the top 3
constexpr int bar_row = 20;
constexpr int bar_height = 14;
constexpr int bar_left = 40;        // room for the class digit
constexpr int bar_right_room = 78;  // room for the percentage
constexpr int top_count = 3;

double ui_scale(const cv::Mat& image) {
  return std::max(0.5, image.rows / reference_height);
}

void label_at(cv::Mat& image, const std::string& text, cv::Point bottom_left, double scale,
              const cv::Scalar& colour) {
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const int thickness = std::max(1, static_cast<int>(scale * 1.5));
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, font, 0.55 * scale, thickness, &baseline);
  bottom_left.x = std::clamp(bottom_left.x, 0, std::max(0, image.cols - size.width));
  bottom_left.y = std::clamp(bottom_left.y, size.height + 2, std::max(size.height + 2, image.rows));
  cv::rectangle(image, {bottom_left.x, bottom_left.y - size.height - 2},
                {bottom_left.x + size.width, bottom_left.y + baseline}, band_colour, cv::FILLED);
  cv::putText(image, text, bottom_left, font, 0.55 * scale, colour, thickness, cv::LINE_AA);
}

}  // namespace

const cv::Scalar reading_bar_colour(200, 120, 40);  // BGR steel blue
const cv::Scalar reading_winner_colour = sure_colour;

void draw_detections(cv::Mat& image, const std::vector<Detection>& digits,
                     const std::vector<Number>& numbers) {
  const double scale = ui_scale(image);
  const int line = std::max(1, static_cast<int>(2 * scale));
  for (const auto& d : digits) {
    const cv::Scalar colour = d.label < 0                   ? rejected_colour
                              : d.confidence < unsure_below ? unsure_colour
                                                            : sure_colour;
    cv::rectangle(image, d.box, colour, line, cv::LINE_AA);
    char text[32];
    if (d.label < 0) {
      std::snprintf(text, sizeof text, "?");
    } else {
      std::snprintf(text, sizeof text, "%d %.0f%%", d.label, 100.0 * d.confidence);
    }
    // Digits in a row sit close together: their labels are drawn smaller than the numbers'.
    label_at(image, text, {d.box.x, d.box.y + d.box.height + static_cast<int>(14 * scale)},
             digit_label_scale * scale, colour);
  }
  for (const auto& n : numbers) {
    if (n.digits.size() < 2) continue;  // a lone digit already has its label
    const cv::Rect around = n.box + cv::Size(6, 6) - cv::Point(3, 3);
    cv::rectangle(image, around, number_colour, line, cv::LINE_AA);
    label_at(image, n.value, {around.x, around.y - 4}, 1.3 * scale, number_colour);
  }
}

void draw_hud(cv::Mat& image, const std::string& text) {
  label_at(image, text, {4, static_cast<int>(20 * ui_scale(image))}, ui_scale(image), text_colour);
}

void draw_debug_view(cv::Mat& image, const cv::Mat& mask, const engine::Tensor& crops,
                     const std::vector<int>& labels) {
  if (!mask.empty()) {
    const int w = std::max(1, static_cast<int>(image.cols * mask_share));
    const int h = std::max(1, mask.rows * w / std::max(1, mask.cols));
    if (h < image.rows) {
      cv::Mat small, small_bgr;
      cv::resize(mask, small, {w, h}, 0, 0, cv::INTER_AREA);
      cv::cvtColor(small, small_bgr, cv::COLOR_GRAY2BGR);
      small_bgr.copyTo(image(cv::Rect(image.cols - w, 0, w, h)));
    }
  }
  const int side = 28 * crop_zoom;
  const int n = crops.shape().n;
  if (n <= 0 || image.rows < side) return;
  const int fit = std::min(n, image.cols / side);
  for (int i = 0; i < fit; ++i) {
    const cv::Mat crop(28, 28, CV_32F, const_cast<float*>(crops.item(i)));
    cv::Mat grey, big, bgr;
    crop.convertTo(grey, CV_8U, 255.0);
    cv::resize(grey, big, {side, side}, 0, 0, cv::INTER_NEAREST);
    cv::cvtColor(big, bgr, cv::COLOR_GRAY2BGR);
    const cv::Rect where(i * side, image.rows - side, side, side);
    bgr.copyTo(image(where));
    cv::rectangle(image, where, rejected_colour, 1);
    const int label =
        i < static_cast<int>(labels.size()) ? labels[static_cast<std::size_t>(i)] : -1;
    label_at(image, label < 0 ? "-" : std::to_string(label), {where.x + 2, where.y + 14}, 0.6,
             sure_colour);
  }
}

void draw_reading_panel(cv::Mat& panel, const std::string& headline, const Detection* digit) {
  panel.setTo(panel_colour);
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double headline_size = digit != nullptr ? headline_scale : no_digit_scale;
  cv::putText(panel, headline, {panel_margin, headline_baseline}, font, headline_size, panel_ink,
              headline_thickness, cv::LINE_AA);
  const int bar_full = panel.cols - bar_left - bar_right_room;
  std::array<int, digit_classes> order{};
  for (int c = 0; c < digit_classes; ++c) order[static_cast<std::size_t>(c)] = c;
  if (digit != nullptr) {
    const auto& p = digit->probabilities;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return p[static_cast<std::size_t>(a)] > p[static_cast<std::size_t>(b)];
    });
    for (int rank = 0; rank < top_count; ++rank) {
      const int c = order[static_cast<std::size_t>(rank)];
      char line[48];
      std::snprintf(line, sizeof line, "%d.  %d   %5.1f%%", rank + 1, c,
                    100.0 * p[static_cast<std::size_t>(c)]);
      cv::putText(panel, line, {panel_margin, top_first_baseline + rank * top_line_step}, font,
                  panel_text_scale, panel_ink, 1, cv::LINE_AA);
    }
  }
  for (int c = 0; c < digit_classes; ++c) {
    const int y = bars_top + c * bar_row;
    cv::putText(panel, std::to_string(c), {panel_margin, y + bar_height}, font, panel_text_scale,
                panel_ink, 1, cv::LINE_AA);
    cv::rectangle(panel, cv::Rect(bar_left, y, bar_full, bar_height), bar_track_colour, cv::FILLED);
    if (digit == nullptr) continue;
    const float probability = digit->probabilities[static_cast<std::size_t>(c)];
    const int length = static_cast<int>(
        std::lround(static_cast<float>(bar_full) * std::clamp(probability, 0.f, 1.f)));
    if (length > 0) {
      const bool winner = c == order[0];
      cv::rectangle(panel, cv::Rect(bar_left, y, length, bar_height),
                    winner ? reading_winner_colour : reading_bar_colour, cv::FILLED);
    }
    char value[16];
    std::snprintf(value, sizeof value, "%.1f%%", 100.0 * probability);
    cv::putText(panel, value, {bar_left + bar_full + 6, y + bar_height}, font,
                0.8 * panel_text_scale, panel_ink, 1, cv::LINE_AA);
  }
}

}  // namespace digitcam::vision
