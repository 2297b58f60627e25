#pragma once
// The one error hierarchy of digitcam. Messages say what failed, where, and what to do about it.
// Ordinary per-frame outcomes are return values, never exceptions.

#include <stdexcept>
#include <string>

namespace digitcam {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file or stream could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A model file is missing, corrupt, or uses something the engine does not support.
class ModelError : public Error {
 public:
  using Error::Error;
};

// Tensors whose shapes do not fit the operation they were handed to.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A camera, video, image or stream that cannot be opened or read.
class SourceError : public Error {
 public:
  using Error::Error;
};

// A command-line option or configuration value that is not valid.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace digitcam
