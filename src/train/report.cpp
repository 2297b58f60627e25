#include "digitcam/train/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <system_error>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "digitcam/engine/error.hpp"

namespace digitcam::train {

namespace {

namespace fs = std::filesystem;

// Layout and colours of the pictures (BGR; cv::Scalar has no constexpr constructor).
constexpr int font = cv::FONT_HERSHEY_SIMPLEX;
constexpr double title_scale = 0.65;
constexpr double label_scale = 0.5;
constexpr double tick_scale = 0.42;
const cv::Scalar white(255, 255, 255);
const cv::Scalar ink(40, 40, 40);                  // text and axes
const cv::Scalar grid(225, 225, 225);              // grid lines
const cv::Scalar train_colour(180, 110, 30);       // blue
const cv::Scalar validation_colour(30, 130, 240);  // orange
const cv::Scalar right_colour(90, 160, 40);        // green: the confusion diagonal
const cv::Scalar wrong_colour(50, 50, 220);        // red: confusion errors
const cv::Scalar wrong_caption(30, 30, 190);       // dark red: captions of wrong digits
// Training curves: two panels, each with room for tick labels on the left and below.
constexpr int curves_width = 1100;
constexpr int curves_height = 470;
constexpr int panel_left = 70;    // space for y tick labels
constexpr int panel_top = 60;     // space for the title
constexpr int panel_bottom = 60;  // space for x tick labels and the axis name
constexpr int panel_gap = 100;    // between the panels, holding the right one's tick labels
constexpr int panel_right = 30;
constexpr int target_ticks = 6;
constexpr int title_rise = 22;     // title baseline above the plot
constexpr int tick_gap = 8;        // between a y tick label and the axis
constexpr int x_tick_drop = 16;    // x tick labels below the plot
constexpr int x_name_drop = 42;    // "epoch" below the plot
constexpr int y_name_offset = 55;  // vertical axis name left of the plot
constexpr int line_width = 2;
constexpr int dot_radius = 3;
constexpr int legend_width = 150;  // legend block, from the plot's right edge
constexpr int legend_swatch = 24;  // length of the coloured line in the legend
constexpr int legend_row = 22;
constexpr double loss_headroom = 1.1;            // loss axis top, times the highest loss
constexpr double accuracy_margin = 0.1;          // accuracy axis bottom, below the lowest value
constexpr double narrowest_accuracy_span = 0.5;  // percentage points
// Confusion heat map.
constexpr int cell = 56;
constexpr int confusion_left = 90;
constexpr int confusion_top = 100;
constexpr int confusion_right = 90;   // per-class recall column
constexpr int confusion_bottom = 70;  // per-class precision row
constexpr int confusion_margin = 12;  // title and "true class" away from the picture's edge
constexpr int cell_padding = 6;       // counts are shrunk until they fit the cell less this
constexpr double smallest_count_scale = 0.25;
constexpr double diagonal_lightest = 0.15;  // shade of a diagonal cell with 0% recall
constexpr double error_lightest = 0.2;      // shade of an off-diagonal cell with one error
constexpr double white_text_above = 0.55;   // shade beyond which counts are written in white
// Misclassified montage.
constexpr int montage_columns = 10;
constexpr int digit_zoom = 3;  // a 28x28 digit becomes 84x84
constexpr int digit_side = 28 * digit_zoom;
constexpr int caption_height = 22;
constexpr int montage_pad = 10;
constexpr int montage_header = 52;
constexpr double caption_scale = 0.45;
constexpr std::size_t montage_most = 400;  // more would make an unreadably large picture

void put(cv::Mat& image, const std::string& text, cv::Point at, double scale,
         const cv::Scalar& colour, int thickness = 1) {
  cv::putText(image, text, at, font, scale, colour, thickness, cv::LINE_AA);
}

cv::Size text_size(const std::string& text, double scale, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(text, font, scale, thickness, &baseline);
}

// Text centred on `centre` (both axes).
void put_centred(cv::Mat& image, const std::string& text, cv::Point centre, double scale,
                 const cv::Scalar& colour, int thickness = 1) {
  const cv::Size s = text_size(text, scale, thickness);
  put(image, text, {centre.x - s.width / 2, centre.y + s.height / 2}, scale, colour, thickness);
}

// Text turned 90 degrees counter-clockwise, centred on `centre` (for vertical axis names).
void put_vertical(cv::Mat& image, const std::string& text, cv::Point centre, double scale,
                  const cv::Scalar& colour) {
  const cv::Size s = text_size(text, scale);
  cv::Mat strip(s.height + 8, s.width + 4, image.type(), white);
  put(strip, text, {2, s.height + 2}, scale, colour);
  cv::Mat turned;
  cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  const cv::Rect target(centre.x - turned.cols / 2, centre.y - turned.rows / 2, turned.cols,
                        turned.rows);
  const cv::Rect inside = target & cv::Rect(0, 0, image.cols, image.rows);
  turned(inside - target.tl()).copyTo(image(inside));
}

std::string format(const char* pattern, double value) {
  char text[32];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

// 1, 2 or 5 times a power of ten, giving about `ticks` steps over `range`.
double nice_step(double range, int ticks) {
  const double raw = range / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * magnitude;
}

struct Series {
  std::vector<double> values;  // one per epoch; NaN = missing
  cv::Scalar colour;
  std::string name;
};

// One plot: axes, grid, ticks, the series as lines with dots, a legend.
// The legend goes top right (falling curves) or bottom right (rising ones), away from the lines.
enum class Legend { top_right, bottom_right };

void draw_panel(cv::Mat& canvas, cv::Rect area, const std::string& title, const std::string& y_name,
                double y_lo, double y_hi, const char* y_format, const std::vector<Series>& series,
                Legend legend) {
  const std::size_t epochs = series.front().values.size();
  const double x_lo = epochs > 1 ? 1.0 : 0.5, x_hi = epochs > 1 ? double(epochs) : 1.5;
  const auto px = [&](double epoch) {
    return area.x + static_cast<int>(std::lround((epoch - x_lo) / (x_hi - x_lo) * area.width));
  };
  const auto py = [&](double v) {
    return area.y + area.height -
           static_cast<int>(std::lround((v - y_lo) / (y_hi - y_lo) * area.height));
  };
  put(canvas, title, {area.x, area.y - title_rise}, title_scale, ink, line_width);

  const double y_step = nice_step(y_hi - y_lo, target_ticks);
  for (double v = std::ceil(y_lo / y_step) * y_step; v <= y_hi + 1e-9; v += y_step) {
    cv::line(canvas, {area.x, py(v)}, {area.x + area.width, py(v)}, grid, 1);
    const std::string label = format(y_format, v);
    const cv::Size s = text_size(label, tick_scale);
    put(canvas, label, {area.x - s.width - tick_gap, py(v) + s.height / 2}, tick_scale, ink);
  }
  const double x_step = std::max(1.0, nice_step(double(epochs), 2 * target_ticks));
  for (double e = 1; e <= double(epochs) + 1e-9; e += x_step) {
    cv::line(canvas, {px(e), area.y}, {px(e), area.y + area.height}, grid, 1);
    put_centred(canvas, format("%.0f", e), {px(e), area.y + area.height + x_tick_drop}, tick_scale,
                ink);
  }
  cv::rectangle(canvas, area, ink, 1);
  put_centred(canvas, "epoch", {area.x + area.width / 2, area.y + area.height + x_name_drop},
              label_scale, ink);
  put_vertical(canvas, y_name, {area.x - y_name_offset, area.y + area.height / 2}, label_scale,
               ink);

  int legend_y = legend == Legend::top_right ? area.y + legend_row
                                             : area.y + area.height - legend_row / 2 -
                                                   legend_row * static_cast<int>(series.size() - 1);
  for (const Series& s : series) {
    cv::Point previous(-1, -1);
    for (std::size_t i = 0; i < s.values.size(); ++i) {
      if (std::isnan(s.values[i])) {
        previous = {-1, -1};
        continue;
      }
      const cv::Point p(px(double(i + 1)), py(std::clamp(s.values[i], y_lo, y_hi)));
      if (previous.x >= 0) cv::line(canvas, previous, p, s.colour, line_width, cv::LINE_AA);
      cv::circle(canvas, p, dot_radius, s.colour, cv::FILLED, cv::LINE_AA);
      previous = p;
    }
    const int legend_x = area.x + area.width - legend_width;
    const int swatch_y = legend_y - legend_row / 4;
    cv::line(canvas, {legend_x, swatch_y}, {legend_x + legend_swatch, swatch_y}, s.colour,
             line_width, cv::LINE_AA);
    put(canvas, s.name, {legend_x + legend_swatch + tick_gap, legend_y}, label_scale, ink);
    legend_y += legend_row;
  }
}

// A colour from white through `full` as t goes 0 -> 1.
cv::Scalar shade(const cv::Scalar& full, double t) {
  t = std::clamp(t, 0.0, 1.0);
  return white * (1.0 - t) + full * t;
}

// Converts a crop to 8-bit white-on-black at digit_side x digit_side.
cv::Mat montage_tile(const cv::Mat& crop) {
  cv::Mat gray;
  if (crop.empty()) return cv::Mat(digit_side, digit_side, CV_8UC1, cv::Scalar(0));
  if (crop.depth() == CV_8U) {
    gray = crop;
  } else {
    crop.convertTo(gray, CV_8U, 255.0);
  }
  if (gray.channels() == 3) cv::cvtColor(gray, gray, cv::COLOR_BGR2GRAY);
  cv::Mat tile;
  const bool integer_zoom = gray.rows * digit_zoom == digit_side && gray.cols == gray.rows;
  cv::resize(gray, tile, {digit_side, digit_side}, 0, 0,
             integer_zoom ? cv::INTER_NEAREST : cv::INTER_AREA);
  return tile;
}

}  // namespace

cv::Mat image_of(const Dataset& data, std::size_t index) {
  if (index >= static_cast<std::size_t>(data.count)) {
    throw ShapeError("image_of: index " + std::to_string(index) + " outside the " +
                     std::to_string(data.count) + " images");
  }
  return cv::Mat(data.rows, data.cols, CV_8UC1, const_cast<std::uint8_t*>(data.image(index)))
      .clone();
}

void write_image(const fs::path& path, const cv::Mat& image) {
  const fs::path temporary = path.string() + ".tmp" + path.extension().string();
  bool written = false;
  try {
    written = cv::imwrite(temporary.string(), image);
  } catch (const cv::Exception& e) {
    throw IoError("cannot write picture " + path.string() + ": " + e.what());
  }
  if (!written) {
    throw IoError("cannot write picture " + path.string() +
                  " (does the folder exist and is it writable?)");
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw IoError("cannot move " + temporary.string() + " to " + path.string() + ": " +
                  ec.message());
  }
}

void write_text_file(const fs::path& path, std::string_view text) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot write " + temporary.string());
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) throw IoError("writing " + temporary.string() + " failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) throw IoError("cannot move " + temporary.string() + " to " + path.string());
}

void write_training_curves(const fs::path& path, const std::vector<EpochStats>& history) {
  cv::Mat canvas(curves_height, curves_width, CV_8UC3, white);
  if (history.empty()) {
    put_centred(canvas, "no epochs were trained", {curves_width / 2, curves_height / 2},
                title_scale, ink, line_width);
    write_image(path, canvas);
    return;
  }
  Series loss{{}, train_colour, "training"};
  Series train_accuracy{{}, train_colour, "training"};
  Series validation{{}, validation_colour, "validation"};
  double highest_loss = 0, lowest_accuracy = 100;
  for (const EpochStats& e : history) {
    loss.values.push_back(e.train_loss);
    train_accuracy.values.push_back(100.0 * e.train_accuracy);
    validation.values.push_back(100.0 * e.validation_accuracy);
    if (std::isfinite(e.train_loss)) highest_loss = std::max(highest_loss, e.train_loss);
    for (double a : {e.train_accuracy, e.validation_accuracy}) {
      if (std::isfinite(a)) lowest_accuracy = std::min(lowest_accuracy, 100.0 * a);
    }
  }
  const int panel_width = (curves_width - panel_left - panel_gap - panel_right) / 2;
  const int panel_height = curves_height - panel_top - panel_bottom;
  const cv::Rect left(panel_left, panel_top, panel_width, panel_height);
  const cv::Rect right(panel_left + panel_width + panel_gap, panel_top, panel_width, panel_height);
  const double loss_top = highest_loss > 0 ? highest_loss * loss_headroom : 1.0;
  draw_panel(canvas, left, "Training loss (cross-entropy)", "loss", 0.0, loss_top, "%.2f", {loss},
             Legend::top_right);
  // Accuracy near 100% is where the story is: the axis starts a little below the lowest value.
  const double span = std::max(100.0 - lowest_accuracy, narrowest_accuracy_span);
  const double bottom = std::max(0.0, lowest_accuracy - accuracy_margin * span);
  std::vector<Series> accuracy{train_accuracy};
  if (std::any_of(validation.values.begin(), validation.values.end(),
                  [](double v) { return std::isfinite(v); })) {
    accuracy.push_back(validation);
  }
  draw_panel(canvas, right, "Accuracy (%)", "accuracy %", bottom, 100.0, span < 5 ? "%.1f" : "%.0f",
             accuracy, Legend::bottom_right);
  write_image(path, canvas);
}

void write_confusion_png(const fs::path& path, const ConfusionMatrix& confusion) {
  const int k = confusion.classes();
  const int width = confusion_left + k * cell + confusion_right;
  const int height = confusion_top + k * cell + confusion_bottom;
  cv::Mat canvas(height, width, CV_8UC3, white);
  const Metrics m = compute_metrics(confusion);

  put(canvas,
      "Confusion: " + std::to_string(m.count) + " images, accuracy " +
          format("%.2f%%", 100.0 * m.accuracy),
      {confusion_margin, confusion_top / 4 + confusion_margin}, title_scale, ink, line_width);
  put_centred(canvas, "predicted class",
              {confusion_left + k * cell / 2, confusion_top / 2 + confusion_margin / 2},
              label_scale, ink);
  put_vertical(canvas, "true class", {2 * confusion_margin, confusion_top + k * cell / 2},
               label_scale, ink);

  std::int64_t worst_error = 0;
  for (int t = 0; t < k; ++t) {
    for (int p = 0; p < k; ++p) {
      if (t != p) worst_error = std::max(worst_error, confusion.at(t, p));
    }
  }
  for (int t = 0; t < k; ++t) {
    const int y = confusion_top + t * cell;
    put_centred(canvas, std::to_string(t), {confusion_left - cell / 3, y + cell / 2}, label_scale,
                ink);
    for (int p = 0; p < k; ++p) {
      const int x = confusion_left + p * cell;
      if (t == 0) {
        put_centred(canvas, std::to_string(p), {x + cell / 2, confusion_top - cell / 3},
                    label_scale, ink);
      }
      const std::int64_t n = confusion.at(t, p);
      double strength = 0;
      cv::Scalar fill = white;
      if (t == p) {
        strength = m.per_class[static_cast<std::size_t>(t)].recall;
        fill = shade(right_colour, diagonal_lightest + (1 - diagonal_lightest) * strength);
      } else if (n > 0) {
        // Log scale: one error must stay visible next to a cell with fifty.
        strength = error_lightest +
                   (1 - error_lightest) * std::log1p(double(n)) / std::log1p(double(worst_error));
        fill = shade(wrong_colour, strength);
      }
      cv::rectangle(canvas, cv::Rect(x, y, cell, cell), fill, cv::FILLED);
      cv::rectangle(canvas, cv::Rect(x, y, cell, cell), grid, 1);
      if (n > 0 || t == p) {
        const std::string count = std::to_string(n);
        double scale = label_scale;
        while (text_size(count, scale).width > cell - cell_padding &&
               scale > smallest_count_scale) {
          scale *= 0.9;
        }
        put_centred(canvas, count, {x + cell / 2, y + cell / 2}, scale,
                    strength > white_text_above ? white : ink, t == p ? line_width : 1);
      }
    }
    put_centred(canvas, format("%.1f%%", 100.0 * m.per_class[static_cast<std::size_t>(t)].recall),
                {confusion_left + k * cell + confusion_right / 2, y + cell / 2}, tick_scale, ink);
  }
  for (int p = 0; p < k; ++p) {
    put_centred(canvas,
                format("%.1f%%", 100.0 * m.per_class[static_cast<std::size_t>(p)].precision),
                {confusion_left + p * cell + cell / 2, confusion_top + k * cell + cell / 3},
                tick_scale, ink);
  }
  put_centred(canvas, "recall",
              {confusion_left + k * cell + confusion_right / 2, confusion_top - cell / 3},
              tick_scale, ink);
  put_centred(canvas, "precision", {confusion_left / 2, confusion_top + k * cell + cell / 3},
              tick_scale, ink);
  put_centred(canvas, "diagonal shaded by recall, errors by count (log scale)",
              {width / 2, height - confusion_bottom / 4}, tick_scale, ink);
  write_image(path, canvas);
}

void write_misclassified_montage(const fs::path& path, const std::vector<LabelledCrop>& crops) {
  const std::size_t shown = std::min(crops.size(), montage_most);
  const int tile_w = digit_side + montage_pad, tile_h = digit_side + caption_height + montage_pad;
  const int columns = montage_columns;
  const int rows = std::max(1, static_cast<int>((shown + columns - 1) / columns));
  const int width = montage_pad + columns * tile_w;
  const int height = montage_header + rows * tile_h + montage_pad;
  cv::Mat canvas(height, width, CV_8UC3, white);

  std::string title = crops.empty() ? "No misclassified digits"
                                    : std::to_string(crops.size()) + " misclassified digits";
  if (shown < crops.size()) title += " (first " + std::to_string(shown) + " shown)";
  put(canvas, title, {montage_pad, montage_header / 2 - montage_pad / 2}, title_scale, ink,
      line_width);
  if (!crops.empty()) {
    put(canvas, "t = true label, p = predicted label, with the network's confidence",
        {montage_pad, montage_header - montage_pad}, tick_scale, ink);
  }
  for (std::size_t i = 0; i < shown; ++i) {
    const LabelledCrop& c = crops[i];
    const int x = montage_pad + static_cast<int>(i % columns) * tile_w;
    const int y = montage_header + static_cast<int>(i / columns) * tile_h;
    cv::Mat tile;
    cv::cvtColor(montage_tile(c.image), tile, cv::COLOR_GRAY2BGR);
    tile.copyTo(canvas(cv::Rect(x, y, digit_side, digit_side)));
    char caption[48];
    std::snprintf(caption, sizeof caption, "t%d p%d %.0f%%", c.truth, c.predicted,
                  100.0 * c.confidence);
    put(canvas, caption, {x + 1, y + digit_side + caption_height - caption_height / 4},
        caption_scale, c.truth == c.predicted ? ink : wrong_caption);
  }
  write_image(path, canvas);
}

}  // namespace digitcam::train
