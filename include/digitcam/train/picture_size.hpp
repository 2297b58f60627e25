#pragma once
// A picture's size from its file header, before anything is decoded: a small file can unpack to
// gigabytes (a 76 KB PNG of 20000x20000 is 1.2 GB as BGR), so every reader of outside pictures
// (run's image sources, eval's digits sheet and labelled folders) refuses one above
// max_picture_pixels from its header first, and checks the decoded size for formats whose header
// is not read here.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

namespace digitcam::train {

// --- Limits ------------------------------------------------------------------------------------
// Largest picture read: above any camera's photo (a 108 MP phone sensor is 12000x9000), below
// what a small file can unpack to (the segmenter's buffers take several times the BGR picture).
constexpr std::uint64_t max_picture_pixels = 120'000'000;
// -----------------------------------------------------------------------------------------------

struct PictureSize {
  std::uint64_t width = 0;
  std::uint64_t height = 0;
};

// Width and height from a PNG, JPEG or BMP header without decoding the picture; nothing for
// other formats, an unreadable file or a header that does not parse (the decoder then has its
// say).
std::optional<PictureSize> picture_size_from_header(const std::filesystem::path& path);

bool is_too_large(const PictureSize& size);

// "image PATH is 20000x20000 (400 megapixels); digitcam reads pictures up to 120 megapixels:
// scale it down first" -- the message of the error each reader throws (its own Error type).
std::string too_large_message(const std::filesystem::path& path, const PictureSize& size);

// cv::imread (imread_flags) with the size checked from the header before decoding and from the
// picture after (formats whose header is not read). Each reader throws its own error type, so
// the outcome is returned: `too_large` set (and no image) over max_picture_pixels; an empty
// image when the file does not decode.
struct CheckedPicture {
  cv::Mat image;
  std::optional<PictureSize> too_large;
};
CheckedPicture read_picture(const std::filesystem::path& path, int imread_flags);

}  // namespace digitcam::train
