#include "digitcam/vision/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

namespace digitcam::vision {

namespace {

// Two numbers whose vertical extents overlap by at least this share of the shorter one sit on
// the same line of the output, and are ordered left to right rather than top to bottom.
constexpr double same_line_overlap = 0.5;

constexpr int no_link = -1;

// The rows' tilt is read from neighbours at most this far apart (centre to centre, in digit
// heights) and within 45 degrees of level.
constexpr double tilt_neighbour_reach = 2.5;

double centre_x(const cv::Rect2d& box) {
  return box.x + 0.5 * box.width;
}
double centre_y(const cv::Rect2d& box) {
  return box.y + 0.5 * box.height;
}

// Overlap of the vertical extents of a and b, as a share of the shorter height.
double vertical_overlap(const cv::Rect2d& a, const cv::Rect2d& b) {
  const double top = std::max(a.y, b.y);
  const double bottom = std::min(a.y + a.height, b.y + b.height);
  const double shorter = std::min(a.height, b.height);
  return shorter > 0 ? std::max(0.0, bottom - top) / shorter : 0.0;
}

// Whether a and b are of heights one number may mix (ReaderOptions::min_height_ratio).
bool similar_height(const cv::Rect2d& a, const cv::Rect2d& b, const ReaderOptions& options) {
  return std::min(a.height, b.height) >= options.min_height_ratio * std::max(a.height, b.height);
}

// The gap between box edges, in mean digit heights, when `right` may follow `left` in a number;
// infinity when it may not. Edges and heights rather than centres and widths, so a thin "1" is as
// close to its neighbours as any other digit.
double link_cost(const cv::Rect2d& left, const cv::Rect2d& right, const ReaderOptions& options) {
  constexpr double impossible = std::numeric_limits<double>::infinity();
  if (centre_x(right) <= centre_x(left) || right.x + right.width <= left.x + left.width) {
    return impossible;
  }
  if (!similar_height(left, right, options)) return impossible;
  if (vertical_overlap(left, right) < options.min_vertical_overlap) return impossible;
  const double gap = (right.x - (left.x + left.width)) / (0.5 * (left.height + right.height));
  return gap <= options.max_gap ? gap : impossible;
}

// The tilt of the rows (radians, clockwise in the image positive): the median direction from each
// digit to its nearest neighbour on the right of a similar height. A sheet held turned by 20
// degrees moves a row's next digit down by a third of the distance between them, which level
// boxes no longer overlap enough for; the other rows' digits lie further off.
double row_tilt(const std::vector<cv::Rect2d>& boxes, const std::vector<bool>& readable,
                const ReaderOptions& options) {
  std::vector<double> angles;
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    if (!readable[i]) continue;
    double nearest = std::numeric_limits<double>::infinity(), angle = 0;
    for (std::size_t j = 0; j < boxes.size(); ++j) {
      if (j == i || !readable[j]) continue;
      const double dx = centre_x(boxes[j]) - centre_x(boxes[i]);
      const double dy = centre_y(boxes[j]) - centre_y(boxes[i]);
      const double distance = std::hypot(dx, dy);
      if (dx <= 0 || std::abs(dy) > dx || !similar_height(boxes[i], boxes[j], options) ||
          distance > tilt_neighbour_reach * std::max(boxes[i].height, boxes[j].height) ||
          distance >= nearest) {
        continue;
      }
      nearest = distance;
      angle = std::atan2(dy, dx);
    }
    if (nearest < std::numeric_limits<double>::infinity()) angles.push_back(angle);
  }
  if (angles.empty()) return 0.0;
  const auto middle = angles.begin() + static_cast<std::ptrdiff_t>(angles.size() / 2);
  std::nth_element(angles.begin(), middle, angles.end());
  return *middle;
}

// A number and the union of its digits' boxes with the rows read level.
struct LevelNumber {
  cv::Rect2d level;
  Number number;
};

// Orders numbers as text is read: lines top to bottom (a line being numbers whose vertical
// extents overlap, read level), each line left to right. Lines rather than a plain (y, x) sort,
// so the second number of a tilted row does not jump ahead of the first for sitting a pixel
// higher.
std::vector<Number> in_reading_order(std::vector<LevelNumber> numbers) {
  std::sort(numbers.begin(), numbers.end(), [](const LevelNumber& a, const LevelNumber& b) {
    return centre_y(a.level) < centre_y(b.level);
  });
  std::size_t line_start = 0;
  cv::Rect2d line_box;
  for (std::size_t i = 0; i <= numbers.size(); ++i) {
    const bool same_line = i < numbers.size() && i > line_start &&
                           vertical_overlap(line_box, numbers[i].level) >= same_line_overlap;
    if (same_line) {
      line_box |= numbers[i].level;
      continue;
    }
    std::sort(numbers.begin() + static_cast<std::ptrdiff_t>(line_start),
              numbers.begin() + static_cast<std::ptrdiff_t>(i),
              [](const LevelNumber& a, const LevelNumber& b) { return a.level.x < b.level.x; });
    line_start = i;
    if (i < numbers.size()) line_box = numbers[i].level;
  }
  std::vector<Number> ordered;
  ordered.reserve(numbers.size());
  for (LevelNumber& n : numbers) ordered.push_back(std::move(n.number));
  return ordered;
}

}  // namespace

std::vector<Number> read_numbers(const std::vector<Detection>& detections,
                                 const ReaderOptions& options) {
  const int count = static_cast<int>(detections.size());
  std::vector<bool> readable_flags(detections.size());
  std::vector<cv::Rect2d> boxes(detections.size());
  for (std::size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    readable_flags[i] =
        d.label >= 0 && d.label < digit_classes && d.box.width > 0 && d.box.height > 0;
    boxes[i] = d.box;
  }
  const auto readable = [&](int i) { return readable_flags[static_cast<std::size_t>(i)]; };

  // Rows are read level: each box moved so its centre turns by the rows' tilt about the origin
  // (its size kept), which leaves level rows exactly where they were.
  const double tilt = row_tilt(boxes, readable_flags, options);
  const double cos_tilt = std::cos(tilt), sin_tilt = std::sin(tilt);
  for (cv::Rect2d& box : boxes) {
    const double x = centre_x(box), y = centre_y(box);
    box.x = x * cos_tilt + y * sin_tilt - 0.5 * box.width;
    box.y = y * cos_tilt - x * sin_tilt - 0.5 * box.height;
  }

  // Each digit proposes its nearest suitable right neighbour. Chaining neighbour to neighbour
  // follows a row that bends, where one straight band would cut it.
  std::vector<int> right_of(detections.size(), no_link);
  std::vector<double> right_cost(detections.size(), std::numeric_limits<double>::infinity());
  for (int i = 0; i < count; ++i) {
    if (!readable(i)) continue;
    for (int j = 0; j < count; ++j) {
      if (j == i || !readable(j)) continue;
      const double cost = link_cost(boxes[static_cast<std::size_t>(i)],
                                    boxes[static_cast<std::size_t>(j)], options);
      if (cost < right_cost[static_cast<std::size_t>(i)]) {
        right_cost[static_cast<std::size_t>(i)] = cost;
        right_of[static_cast<std::size_t>(i)] = j;
      }
    }
  }

  // When two digits propose the same neighbour (rows close together), the nearer one keeps it,
  // so every digit has at most one left and one right neighbour and the links form chains.
  std::vector<int> left_of(detections.size(), no_link);
  for (int i = 0; i < count; ++i) {
    const int j = right_of[static_cast<std::size_t>(i)];
    if (j == no_link) continue;
    int& current = left_of[static_cast<std::size_t>(j)];
    if (current == no_link ||
        right_cost[static_cast<std::size_t>(i)] < right_cost[static_cast<std::size_t>(current)]) {
      current = i;
    }
  }

  std::vector<LevelNumber> numbers;
  for (int start = 0; start < count; ++start) {
    // A chain starts at a digit that no other digit keeps as its right neighbour.
    if (!readable(start) || left_of[static_cast<std::size_t>(start)] != no_link) continue;
    LevelNumber n{boxes[static_cast<std::size_t>(start)], {}};
    n.number.box = detections[static_cast<std::size_t>(start)].box;
    for (int i = start; i != no_link;) {
      const Detection& digit = detections[static_cast<std::size_t>(i)];
      n.number.value.push_back(static_cast<char>('0' + digit.label));
      n.number.box |= digit.box;
      n.number.digits.push_back(i);
      n.level |= boxes[static_cast<std::size_t>(i)];
      const int next = right_of[static_cast<std::size_t>(i)];
      i = (next != no_link && left_of[static_cast<std::size_t>(next)] == i) ? next : no_link;
    }
    numbers.push_back(std::move(n));
  }
  return in_reading_order(std::move(numbers));
}

}  // namespace digitcam::vision
