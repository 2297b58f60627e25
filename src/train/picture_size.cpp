#include "digitcam/train/picture_size.hpp"

#include <cstdlib>
#include <fstream>

#include <opencv2/imgcodecs.hpp>

namespace digitcam::train {

namespace {

// --- Header parsing ----------------------------------------------------------------------------
// Bytes of a file's start searched for the picture size (JPEG's frame header may follow EXIF
// data and thumbnails).
constexpr std::size_t header_search_bytes = 256 * 1024;
// -----------------------------------------------------------------------------------------------

}  // namespace

std::optional<PictureSize> picture_size_from_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(header_search_bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(head[i]));
  };
  const auto big16 = [&](std::size_t i) { return byte(i) << 8 | byte(i + 1); };
  const auto big32 = [&](std::size_t i) { return big16(i) << 16 | big16(i + 2); };
  const auto little32 = [&](std::size_t i) {
    return byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
  };
  if (head.size() >= 24 && head.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 &&
      head.compare(12, 4, "IHDR") == 0) {
    return PictureSize{big32(16), big32(20)};
  }
  if (head.size() >= 26 && head.compare(0, 2, "BM") == 0) {
    // Height is negative for top-down bitmaps.
    const auto height = static_cast<std::int32_t>(static_cast<std::uint32_t>(little32(22)));
    return PictureSize{little32(18), static_cast<std::uint64_t>(std::abs(std::int64_t{height}))};
  }
  if (head.size() >= 4 && byte(0) == 0xFF && byte(1) == 0xD8) {
    // Walk the markers to the first start-of-frame (SOF0..SOF15 but DHT, JPG and DAC).
    for (std::size_t at = 2; at + 9 < head.size();) {
      if (byte(at) != 0xFF) return std::nullopt;
      const std::uint64_t marker = byte(at + 1);
      if (marker == 0xFF) {  // fill byte
        ++at;
        continue;
      }
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        return PictureSize{big16(at + 7), big16(at + 5)};
      }
      if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
        at += 2;  // markers without a length
        continue;
      }
      at += 2 + big16(at + 2);
    }
  }
  return std::nullopt;
}

bool is_too_large(const PictureSize& size) {
  // Each side fits in 32 bits (every header above stores at most 32), so the product cannot wrap.
  return size.width * size.height > max_picture_pixels;
}

std::string too_large_message(const std::filesystem::path& path, const PictureSize& size) {
  const std::uint64_t megapixels = (size.width * size.height + 500'000) / 1'000'000;
  return "image " + path.string() + " is " + std::to_string(size.width) + "x" +
         std::to_string(size.height) + " (" + std::to_string(megapixels) +
         " megapixels); digitcam reads pictures up to " +
         std::to_string(max_picture_pixels / 1'000'000) + " megapixels: scale it down first";
}

CheckedPicture read_picture(const std::filesystem::path& path, int imread_flags) {
  if (const auto header = picture_size_from_header(path); header && is_too_large(*header)) {
    return {{}, header};
  }
  cv::Mat image;
  try {
    image = cv::imread(path.string(), imread_flags);
  } catch (const cv::Exception&) {
    image.release();  // OpenCV refuses some damaged headers by throwing
  }
  const PictureSize decoded{static_cast<std::uint64_t>(image.cols),
                            static_cast<std::uint64_t>(image.rows)};
  if (is_too_large(decoded)) return {{}, decoded};
  return {image, std::nullopt};
}

}  // namespace digitcam::train
