#pragma once
// Labelled digit images from outside MNIST, normalised by vision/normalizer exactly as camera
// crops are, so evaluating on them measures what the camera path will see:
//   - OpenCV's digits sheet (samples/data/digits.png): 2000x1000, 50 rows of 100 cells of 20x20,
//     white ink on black; rows 5k..5k+4 hold the digit k, 500 of each;
//   - a labelled folder: FOLDER/<digit>/<image files>, any size and polarity.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "digitcam/train/mnist.hpp"
#include "digitcam/vision/normalizer.hpp"

namespace digitcam::train {

struct LabelledImages {
  std::vector<cv::Mat> images;       // 28x28 CV_32F, 0..1, white ink on black
  std::vector<int> labels;           // 0..9, one per image
  std::vector<std::string> sources;  // where each came from ("digits.png row 7 column 12", path)
  std::size_t blank = 0;  // images the normaliser found no ink in; kept as black 28x28 images

  // The images quantised to 8 bits, for fill_batch / predict_dataset.
  Dataset as_dataset() const;
};

// Throws IoError naming the file when it is missing, unreadable or not 2000x1000 (a size read
// from the header is checked before decoding; over max_picture_pixels is refused).
LabelledImages load_digits_sheet(const std::filesystem::path& path,
                                 const vision::NormalizeOptions& options = {
                                     vision::Polarity::light_on_dark});

// Every image file (png, jpg, jpeg, bmp, pgm, ppm, tif, tiff) in the sub-folders 0 .. 9 of
// folder, in sorted order. Throws IoError when there is no such sub-folder or an image cannot be
// read or is over max_picture_pixels (checked from its header before decoding).
LabelledImages load_labelled_folder(const std::filesystem::path& folder,
                                    const vision::NormalizeOptions& options = {});

}  // namespace digitcam::train
