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
constexpr int wrong_frame = 3;             // px of red around a wrong digit in the gallery
constexpr std::size_t sample_grid_most = 100;
// Reliability diagram.
constexpr int reliability_width = 760;
constexpr int reliability_height = 620;
constexpr int reliability_left = 80;
constexpr int reliability_right = 30;
constexpr int reliability_top = 90;
constexpr int reliability_bottom = 110;          // tick labels, the axis name and the counts row
constexpr int counts_drop = 62;                  // the samples-per-bin row below the plot
const cv::Scalar accuracy_colour(180, 110, 30);  // blue bars: accuracy per bin
const cv::Scalar gap_colour(120, 120, 235);      // light red: the gap to the mean confidence
const cv::Scalar diagonal_colour(120, 120, 120);

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

// One digit of a grid picture and how it is captioned.
struct Tile {
  const LabelledCrop* crop = nullptr;
  std::string caption;
  bool wrong = false;  // framed and captioned in red
};

std::string caption_of(const LabelledCrop& c) {
  char caption[48];
  std::snprintf(caption, sizeof caption, "t%d p%d %.0f%%", c.truth, c.predicted,
                100.0 * c.confidence);
  return caption;
}

// Digits ten to a row, each enlarged to digit_side, under a title and an optional subtitle.
// A caption is red when its digit is wrong (truth != predicted) or the tile says so.
cv::Mat tile_grid(const std::string& title, const std::string& subtitle,
                  const std::vector<Tile>& tiles) {
  const int tile_w = digit_side + montage_pad, tile_h = digit_side + caption_height + montage_pad;
  const int columns = montage_columns;
  const int rows = std::max(1, static_cast<int>((tiles.size() + columns - 1) / columns));
  const int width = montage_pad + columns * tile_w;
  const int height = montage_header + rows * tile_h + montage_pad;
  cv::Mat canvas(height, width, CV_8UC3, white);
  put(canvas, title, {montage_pad, montage_header / 2 - montage_pad / 2}, title_scale, ink,
      line_width);
  if (!subtitle.empty())
    put(canvas, subtitle, {montage_pad, montage_header - montage_pad}, tick_scale, ink);
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const LabelledCrop& c = *tiles[i].crop;
    const int x = montage_pad + static_cast<int>(i % columns) * tile_w;
    const int y = montage_header + static_cast<int>(i / columns) * tile_h;
    cv::Mat tile;
    cv::cvtColor(montage_tile(c.image), tile, cv::COLOR_GRAY2BGR);
    tile.copyTo(canvas(cv::Rect(x, y, digit_side, digit_side)));
    if (tiles[i].wrong) {
      cv::rectangle(canvas, cv::Rect(x, y, digit_side, digit_side), wrong_colour, wrong_frame);
    }
    const bool red = tiles[i].wrong || c.truth != c.predicted;
    put(canvas, tiles[i].caption, {x + 1, y + digit_side + caption_height - caption_height / 4},
        caption_scale, red ? wrong_caption : ink);
  }
  return canvas;
}

std::string html_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string report_html(const EvaluationReport& r, double ece) {
  const Metrics& m = r.metrics;
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>digitcam "
      "report: " +
      html_escaped(r.title) +
      "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;"
      "text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
      "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}</style>\n</head>\n<body>\n";
  h += "<h1>" + html_escaped(r.title) + "</h1>\n<h2>Metrics</h2>\n<table>\n";
  const auto row = [&](const std::string& name, const std::string& value) {
    h += "<tr><td>" + html_escaped(name) + "</td><td>" + html_escaped(value) + "</td></tr>\n";
  };
  row("digits evaluated", std::to_string(m.count));
  row("accuracy", format("%.2f%%", 100.0 * m.accuracy));
  row("precision (macro)", format("%.2f%%", 100.0 * m.precision_macro));
  row("recall (macro)", format("%.2f%%", 100.0 * m.recall_macro));
  row("F1 (macro)", format("%.2f%%", 100.0 * m.f1_macro));
  row("expected calibration error (15 bins)", format("%.2f%%", 100.0 * ece));
  for (const auto& [name, value] : r.figures) row(name, value);
  h += "</table>\n<h2>Per class</h2>\n<table>\n<tr><th>class</th><th>precision</th>"
       "<th>recall</th><th>F1</th><th>support</th></tr>\n";
  for (const ClassMetrics& c : m.per_class) {
    h += "<tr><td>" + std::to_string(c.label) + "</td><td>" +
         format("%.2f%%", 100.0 * c.precision) + "</td><td>" + format("%.2f%%", 100.0 * c.recall) +
         "</td><td>" + format("%.2f%%", 100.0 * c.f1) + "</td><td>" + std::to_string(c.support) +
         "</td></tr>\n";
  }
  h += "</table>\n";
  const auto picture = [&](const std::string& heading, const char* file) {
    h += "<h2>" + heading + "</h2>\n<img src=\"" + std::string(file) + "\" alt=\"" + heading +
         "\">\n";
  };
  if (!r.history.empty()) picture("Training curves", report_curves_file);
  picture("Confusion matrix", report_confusion_file);
  picture("Reliability diagram", report_reliability_file);
  picture("Prediction gallery", report_gallery_file);
  picture("Misclassified digits", report_misclassified_file);
  picture("Sample digits", report_samples_file);
  h += "<p><a href=\"" + std::string(report_metrics_file) +
       "\">metrics as text</a></p>\n"
       "</body>\n</html>\n";
  return h;
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
  Series validation_loss{{}, validation_colour, "validation"};
  double highest_loss = 0, lowest_accuracy = 100;
  for (const EpochStats& e : history) {
    loss.values.push_back(e.train_loss);
    validation_loss.values.push_back(e.validation_loss);
    if (std::isfinite(e.validation_loss)) highest_loss = std::max(highest_loss, e.validation_loss);
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
  const auto any_finite = [](const Series& series) {
    return std::any_of(series.values.begin(), series.values.end(),
                       [](double v) { return std::isfinite(v); });
  };
  std::vector<Series> losses{loss};
  if (any_finite(validation_loss)) losses.push_back(validation_loss);
  draw_panel(canvas, left, "Loss (cross-entropy)", "loss", 0.0, loss_top, "%.2f", losses,
             Legend::top_right);
  // Accuracy near 100% is where the story is: the axis starts a little below the lowest value.
  const double span = std::max(100.0 - lowest_accuracy, narrowest_accuracy_span);
  const double bottom = std::max(0.0, lowest_accuracy - accuracy_margin * span);
  std::vector<Series> accuracy{train_accuracy};
  if (any_finite(validation)) {
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
  std::string title = crops.empty() ? "No misclassified digits"
                                    : std::to_string(crops.size()) + " misclassified digits";
  if (shown < crops.size()) title += " (first " + std::to_string(shown) + " shown)";
  std::vector<Tile> tiles;
  for (std::size_t i = 0; i < shown; ++i) tiles.push_back({&crops[i], caption_of(crops[i]), false});
  write_image(path,
              tile_grid(title,
                        crops.empty()
                            ? std::string()
                            : "t = true label, p = predicted label, with the network's confidence",
                        tiles));
}

void write_sample_grid(const fs::path& path, const std::vector<LabelledCrop>& crops) {
  const std::size_t shown = std::min(crops.size(), sample_grid_most);
  std::vector<Tile> tiles;
  for (std::size_t i = 0; i < shown; ++i)
    tiles.push_back({&crops[i], "label " + std::to_string(crops[i].truth), false});
  const std::string title = crops.empty() ? "No digits were evaluated"
                                          : "The first " + std::to_string(shown) + " of " +
                                                std::to_string(crops.size()) + " digits evaluated";
  write_image(path, tile_grid(title, crops.empty() ? "" : "each with its true label", tiles));
}

std::vector<std::size_t> gallery_selection(const std::vector<LabelledCrop>& crops,
                                           std::size_t size) {
  std::vector<std::size_t> wrong, right;
  for (std::size_t i = 0; i < crops.size(); ++i)
    (crops[i].truth == crops[i].predicted ? right : wrong).push_back(i);
  const auto more_confident = [&](std::size_t a, std::size_t b) {
    return crops[a].confidence > crops[b].confidence ||
           (crops[a].confidence == crops[b].confidence && a < b);
  };
  // Confidently wrong predictions are the ones that hurt: they come first. Right ones fill the
  // rest, the least sure of them, since a wall of 100% right digits says nothing.
  std::sort(wrong.begin(), wrong.end(), more_confident);
  const std::size_t wrong_kept = std::min(wrong.size(), right.empty() ? size : size / 2);
  wrong.resize(wrong_kept);
  std::sort(right.begin(), right.end(),
            [&](std::size_t a, std::size_t b) { return more_confident(b, a); });
  right.resize(std::min(right.size(), size - std::min(size, wrong_kept)));
  std::vector<std::size_t> chosen = wrong;
  chosen.insert(chosen.end(), right.begin(), right.end());
  std::sort(chosen.begin(), chosen.end(), more_confident);
  return chosen;
}

void write_prediction_gallery(const fs::path& path, const std::vector<LabelledCrop>& crops) {
  const std::vector<std::size_t> chosen = gallery_selection(crops, gallery_size);
  std::size_t wrong = 0, wrong_shown = 0;
  for (const LabelledCrop& c : crops) wrong += c.truth != c.predicted;
  std::vector<Tile> tiles;
  for (const std::size_t i : chosen) {
    const bool is_wrong = crops[i].truth != crops[i].predicted;
    wrong_shown += is_wrong;
    tiles.push_back({&crops[i], caption_of(crops[i]), is_wrong});
  }
  const std::string title = "Predictions: " + std::to_string(wrong_shown) + " of " +
                            std::to_string(wrong) + " wrong (red), " +
                            std::to_string(chosen.size() - wrong_shown) + " least sure right";
  write_image(path, tile_grid(title,
                              "most confident first; t = true label, p = predicted label, with "
                              "the network's confidence",
                              tiles));
}

void write_reliability_diagram(const fs::path& path, const std::vector<ReliabilityBin>& bins) {
  cv::Mat canvas(reliability_height, reliability_width, CV_8UC3, white);
  const cv::Rect plot(reliability_left, reliability_top,
                      reliability_width - reliability_left - reliability_right,
                      reliability_height - reliability_top - reliability_bottom);
  const auto px = [&](double confidence) {
    return plot.x + static_cast<int>(std::lround(confidence * plot.width));
  };
  const auto py = [&](double accuracy) {
    return plot.y + plot.height - static_cast<int>(std::lround(accuracy * plot.height));
  };
  std::int64_t total = 0;
  for (const ReliabilityBin& b : bins) total += b.count;
  const double ece = expected_calibration_error(bins);
  put(canvas,
      "Reliability: ECE " + format("%.2f%%", 100.0 * ece) + " over " + std::to_string(total) +
          " digits, " + std::to_string(bins.size()) + " bins",
      {plot.x, plot.y - title_rise - legend_row}, title_scale, ink, line_width);
  for (int t = 0; t <= 10; t += 2) {
    const double v = t / 10.0;
    cv::line(canvas, {plot.x, py(v)}, {plot.x + plot.width, py(v)}, grid, 1);
    const std::string label = format("%.1f", v);
    const cv::Size s = text_size(label, tick_scale);
    put(canvas, label, {plot.x - s.width - tick_gap, py(v) + s.height / 2}, tick_scale, ink);
    put_centred(canvas, label, {px(v), plot.y + plot.height + x_tick_drop}, tick_scale, ink);
  }
  for (const ReliabilityBin& b : bins) {
    const int x0 = px(b.lower) + 1, x1 = px(b.upper) - 1;
    put_centred(canvas, std::to_string(b.count),
                {(x0 + x1) / 2, plot.y + plot.height + counts_drop}, tick_scale * 0.8, ink);
    if (b.count == 0) continue;
    cv::rectangle(canvas, cv::Point(x0, py(b.accuracy)), cv::Point(x1, py(0.0)), accuracy_colour,
                  cv::FILLED);
    // The gap between what the network claimed and what it achieved, hatched over the bar.
    const int top = std::min(py(b.accuracy), py(b.mean_confidence));
    const int bottom = std::max(py(b.accuracy), py(b.mean_confidence));
    if (bottom > top) {
      cv::Mat region = canvas(cv::Rect(cv::Point(x0, top), cv::Point(x1 + 1, bottom + 1)));
      cv::Mat tint(region.size(), region.type(), gap_colour);
      cv::addWeighted(region, 0.4, tint, 0.6, 0.0, region);
    }
    cv::rectangle(canvas, cv::Point(x0, py(b.accuracy)), cv::Point(x1, py(0.0)), ink, 1);
    // The bin's mean confidence as a line: where a calibrated bar would end.
    cv::line(canvas, {x0, py(b.mean_confidence)}, {x1, py(b.mean_confidence)}, wrong_colour,
             line_width);
  }
  cv::line(canvas, {px(0.0), py(0.0)}, {px(1.0), py(1.0)}, diagonal_colour, 1, cv::LINE_AA);
  cv::rectangle(canvas, plot, ink, 1);
  put_centred(canvas, "confidence (top-1 probability)",
              {plot.x + plot.width / 2, plot.y + plot.height + x_name_drop}, label_scale, ink);
  put(canvas, "digits per bin:", {tick_gap, plot.y + plot.height + counts_drop + 4},
      tick_scale * 0.8, ink);
  put_vertical(canvas, "accuracy", {plot.x - y_name_offset, plot.y + plot.height / 2}, label_scale,
               ink);
  // Legend in one row between the title and the plot, where no bar can reach it.
  int lx = plot.x;
  const int ly = plot.y - legend_row / 2;
  const auto entry = [&](const std::string& name) {
    put(canvas, name, {lx + legend_swatch + tick_gap, ly}, tick_scale, ink);
    lx += legend_swatch + 2 * tick_gap + text_size(name, tick_scale).width + legend_row;
  };
  cv::rectangle(canvas, cv::Rect(lx, ly - 10, legend_swatch, 10), accuracy_colour, cv::FILLED);
  entry("accuracy");
  cv::rectangle(canvas, cv::Rect(lx, ly - 10, legend_swatch, 10), gap_colour, cv::FILLED);
  entry("gap");
  cv::line(canvas, {lx, ly - 5}, {lx + legend_swatch, ly - 5}, wrong_colour, line_width);
  entry("mean confidence");
  cv::line(canvas, {lx, ly - 5}, {lx + legend_swatch, ly - 5}, diagonal_colour, 1, cv::LINE_AA);
  entry("perfect calibration");
  write_image(path, canvas);
}

void write_evaluation_report(const fs::path& folder, const EvaluationReport& report) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw IoError("cannot create report folder " + folder.string() + ": " + ec.message());
  std::vector<float> confidences;
  std::vector<bool> correct;
  std::vector<LabelledCrop> wrong;
  for (const LabelledCrop& c : report.samples) {
    confidences.push_back(c.confidence);
    correct.push_back(c.truth == c.predicted);
    if (c.truth != c.predicted) wrong.push_back(c);
  }
  const std::vector<ReliabilityBin> bins = reliability_bins(confidences, correct);
  const double ece = expected_calibration_error(bins);
  if (!report.history.empty()) write_training_curves(folder / report_curves_file, report.history);
  write_sample_grid(folder / report_samples_file, report.samples);
  write_prediction_gallery(folder / report_gallery_file, report.samples);
  write_confusion_png(folder / report_confusion_file, report.metrics.confusion);
  write_reliability_diagram(folder / report_reliability_file, bins);
  write_misclassified_montage(folder / report_misclassified_file, wrong);
  write_text_file(folder / report_metrics_file,
                  to_table(report.metrics) +
                      "expected calibration error (15 bins): " + format("%.4f", ece) + "\n");
  write_text_file(folder / report_index_file, report_html(report, ece));
}

}  // namespace digitcam::train
