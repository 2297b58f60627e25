#include "digitcam/vision/reader.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

namespace digitcam::vision {

namespace {

// Two numbers whose vertical extents overlap by at least this share of the shorter one sit on
// the same line of the output, and are ordered left to right rather than top to bottom.
constexpr double same_line_overlap = 0.5;

constexpr int no_link = -1;

double centre_x(const cv::Rect& box) {
  return box.x + 0.5 * box.width;
}
double centre_y(const cv::Rect& box) {
  return box.y + 0.5 * box.height;
}

// Overlap of the vertical extents of a and b, as a share of the shorter height.
double vertical_overlap(const cv::Rect& a, const cv::Rect& b) {
  const int top = std::max(a.y, b.y);
  const int bottom = std::min(a.y + a.height, b.y + b.height);
  const int shorter = std::min(a.height, b.height);
  return shorter > 0 ? static_cast<double>(std::max(0, bottom - top)) / shorter : 0.0;
}

// The gap between box edges, in mean digit heights, when `right` may follow `left` in a number;
// infinity when it may not. Edges and heights rather than centres and widths, so a thin "1" is as
// close to its neighbours as any other digit.
double link_cost(const cv::Rect& left, const cv::Rect& right, const ReaderOptions& options) {
  constexpr double impossible = std::numeric_limits<double>::infinity();
  if (centre_x(right) <= centre_x(left) || right.x + right.width <= left.x + left.width) {
    return impossible;
  }
  const double shorter = std::min(left.height, right.height);
  const double taller = std::max(left.height, right.height);
  if (shorter < options.min_height_ratio * taller) return impossible;
  if (vertical_overlap(left, right) < options.min_vertical_overlap) return impossible;
  const double gap = (right.x - (left.x + left.width)) / (0.5 * (shorter + taller));
  return gap <= options.max_gap ? gap : impossible;
}

// Orders numbers as text is read: lines top to bottom (a line being numbers whose vertical
// extents overlap), each line left to right. Lines rather than a plain (y, x) sort, so the second
// number of a tilted row does not jump ahead of the first for sitting a pixel higher.
void sort_reading_order(std::vector<Number>& numbers) {
  std::sort(numbers.begin(), numbers.end(),
            [](const Number& a, const Number& b) { return centre_y(a.box) < centre_y(b.box); });
  std::size_t line_start = 0;
  cv::Rect line_box;
  for (std::size_t i = 0; i <= numbers.size(); ++i) {
    const bool same_line = i < numbers.size() && i > line_start &&
                           vertical_overlap(line_box, numbers[i].box) >= same_line_overlap;
    if (same_line) {
      line_box |= numbers[i].box;
      continue;
    }
    std::sort(numbers.begin() + static_cast<std::ptrdiff_t>(line_start),
              numbers.begin() + static_cast<std::ptrdiff_t>(i),
              [](const Number& a, const Number& b) { return a.box.x < b.box.x; });
    line_start = i;
    if (i < numbers.size()) line_box = numbers[i].box;
  }
}

}  // namespace

std::vector<Number> read_numbers(const std::vector<Detection>& detections,
                                 const ReaderOptions& options) {
  const int count = static_cast<int>(detections.size());
  const auto readable = [&](int i) {
    const Detection& d = detections[static_cast<std::size_t>(i)];
    return d.label >= 0 && d.label < digit_classes && d.box.width > 0 && d.box.height > 0;
  };

  // Each digit proposes its nearest suitable right neighbour. Chaining neighbour to neighbour
  // follows a row that tilts or bends, where one horizontal band would cut it.
  std::vector<int> right_of(detections.size(), no_link);
  std::vector<double> right_cost(detections.size(), std::numeric_limits<double>::infinity());
  for (int i = 0; i < count; ++i) {
    if (!readable(i)) continue;
    for (int j = 0; j < count; ++j) {
      if (j == i || !readable(j)) continue;
      const double cost = link_cost(detections[static_cast<std::size_t>(i)].box,
                                    detections[static_cast<std::size_t>(j)].box, options);
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

  std::vector<Number> numbers;
  for (int start = 0; start < count; ++start) {
    // A chain starts at a digit that no other digit keeps as its right neighbour.
    if (!readable(start) || left_of[static_cast<std::size_t>(start)] != no_link) continue;
    Number number;
    number.box = detections[static_cast<std::size_t>(start)].box;
    for (int i = start; i != no_link;) {
      const Detection& digit = detections[static_cast<std::size_t>(i)];
      number.value.push_back(static_cast<char>('0' + digit.label));
      number.box |= digit.box;
      number.digits.push_back(i);
      const int next = right_of[static_cast<std::size_t>(i)];
      i = (next != no_link && left_of[static_cast<std::size_t>(next)] == i) ? next : no_link;
    }
    numbers.push_back(std::move(number));
  }

  sort_reading_order(numbers);
  return numbers;
}

}  // namespace digitcam::vision
