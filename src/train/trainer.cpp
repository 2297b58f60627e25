#include "digitcam/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/loss.hpp"
#include "digitcam/train/architectures.hpp"

namespace digitcam::train {

namespace {

using Clock = std::chrono::steady_clock;

// Checkpoint file layout, version 2 (1 had no validation loss in its history): magic, version,
// options line, epochs done, history, every parameter and buffer (name, count, floats), then the
// optimizer's own state.
constexpr std::uint32_t checkpoint_magic = 0x504b'4344;  // "DCKP"
constexpr std::uint32_t checkpoint_version = 2;
// Progress reports at most this often, so stderr stays readable.
constexpr double progress_interval_seconds = 0.5;
// Batch size of validation and test passes (inference only: larger is faster).
constexpr int inference_batch = 500;
// Classes 0..9 are the digits; an eleventh, when present, is "not a digit".
constexpr int digit_classes = 10;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int argmax(const float* p, int k) {
  return static_cast<int>(std::max_element(p, p + k) - p);
}

// Every trained tensor and statistic of the network, in a fixed order.
std::vector<engine::Param> state_of(engine::Network& net) {
  auto all = net.params();
  auto stats = net.buffers();
  all.insert(all.end(), stats.begin(), stats.end());
  return all;
}

template <class T>
void write_pod(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
void read_pod(std::istream& in, T& v, const std::filesystem::path& path) {
  if (!in.read(reinterpret_cast<char*>(&v), sizeof v)) {
    throw IoError("checkpoint " + path.string() +
                  " is truncated; delete it or train again without --resume");
  }
}

void write_string(std::ostream& out, const std::string& s) {
  write_pod(out, static_cast<std::uint32_t>(s.size()));
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}
std::string read_string(std::istream& in, const std::filesystem::path& path) {
  std::uint32_t size = 0;
  read_pod(in, size, path);
  constexpr std::uint32_t longest_string = 1 << 20;
  if (size > longest_string) throw IoError("checkpoint " + path.string() + " is corrupt");
  std::string s(size, '\0');
  if (!in.read(s.data(), size)) throw IoError("checkpoint " + path.string() + " is truncated");
  return s;
}

void save_checkpoint(const std::filesystem::path& path, const TrainOptions& options,
                     engine::Network& net, const engine::Optimizer& optimizer,
                     const std::vector<EpochStats>& history) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot write checkpoint " + temporary.string());
    write_pod(out, checkpoint_magic);
    write_pod(out, checkpoint_version);
    write_string(out, options.describe());
    write_pod(out, static_cast<std::uint32_t>(history.size()));
    for (const auto& e : history) write_pod(out, e);
    const auto state = state_of(net);
    write_pod(out, static_cast<std::uint32_t>(state.size()));
    for (const auto& p : state) {
      write_string(out, p.name);
      write_pod(out, static_cast<std::uint64_t>(p.value->size()));
      out.write(reinterpret_cast<const char*>(p.value->data()),
                static_cast<std::streamsize>(p.value->size() * sizeof(float)));
    }
    optimizer.save_state(out);
    out.flush();
    if (!out) throw IoError("writing checkpoint " + temporary.string() + " failed (disk full?)");
  }
  std::filesystem::rename(temporary, path);
}

// Restores the network and optimizer; returns the history of the epochs already done.
std::vector<EpochStats> load_checkpoint(const std::filesystem::path& path,
                                        const TrainOptions& options, engine::Network& net,
                                        engine::Optimizer& optimizer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open checkpoint " + path.string());
  std::uint32_t magic = 0, version = 0;
  read_pod(in, magic, path);
  read_pod(in, version, path);
  if (magic != checkpoint_magic || version != checkpoint_version) {
    throw IoError(path.string() + " is not a digitcam checkpoint (version " +
                  std::to_string(checkpoint_version) + ")");
  }
  const std::string recipe = read_string(in, path);
  if (recipe != options.describe()) {
    throw IoError("checkpoint " + path.string() + " was written by another recipe (" + recipe +
                  "); resume with the same options, or train without --resume");
  }
  std::uint32_t epochs = 0;
  read_pod(in, epochs, path);
  std::vector<EpochStats> history(epochs);
  for (auto& e : history) read_pod(in, e, path);
  auto state = state_of(net);
  std::uint32_t count = 0;
  read_pod(in, count, path);
  if (count != state.size()) throw IoError("checkpoint " + path.string() + " does not match");
  for (auto& p : state) {
    const std::string name = read_string(in, path);
    std::uint64_t size = 0;
    read_pod(in, size, path);
    if (name != p.name || size != p.value->size()) {
      throw IoError("checkpoint " + path.string() + " does not match the network at " + p.name);
    }
    if (!in.read(reinterpret_cast<char*>(p.value->data()),
                 static_cast<std::streamsize>(size * sizeof(float)))) {
      throw IoError("checkpoint " + path.string() + " is truncated");
    }
  }
  optimizer.load_state(in);
  return history;
}

// Dropout masks depend on (seed, epoch) only, so a resumed epoch draws what the original would.
void reseed_dropout(engine::Network& net, std::uint64_t seed, int epoch) {
  for (const auto& layer : net.layers()) {
    if (layer->kind() == "Dropout")
      layer->initialize(seed * 1'000'003u + static_cast<unsigned>(epoch));
  }
}

// Prepares the next batch on one long-lived worker thread while the current batch trains, so
// augmentation overlaps with the network's work and no thread is created per batch.
class Prefetcher {
 public:
  using Job = std::function<void(std::size_t batch, engine::Tensor& out)>;

  explicit Prefetcher(Job job) : job_(std::move(job)), worker_([this] { loop(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  void start(std::size_t batch, engine::Tensor& out) {
    {
      std::lock_guard lock(mutex_);
      batch_ = batch;
      out_ = &out;
      pending_ = true;
    }
    wake_.notify_all();
  }
  // Blocks until the last started batch is ready; rethrows what the worker threw.
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return !pending_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return pending_ || stopping_; });
      if (stopping_) return;
      lock.unlock();
      std::exception_ptr error;
      try {
        job_(batch_, *out_);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      pending_ = false;
      done_.notify_all();
    }
  }

  Job job_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::size_t batch_ = 0;
  engine::Tensor* out_ = nullptr;
  bool pending_ = false, stopping_ = false;
  std::exception_ptr error_;
  std::thread worker_;  // last: starts after everything it uses exists
};

void validate(const TrainOptions& o, const Dataset& data) {
  if (o.epochs < 1) throw UsageError("--epochs must be at least 1");
  if (o.batch < 2) throw UsageError("--batch must be at least 2 (batch norm needs two images)");
  if (!(o.learning_rate > 0.0f)) throw UsageError("--lr must be positive");
  if (!(o.validation_fraction >= 0.0 && o.validation_fraction < 0.5)) {
    throw UsageError("--validation must be in [0, 0.5)");
  }
  if (o.classes < 10) throw UsageError("a digit model needs at least 10 classes");
  for (const std::uint8_t label : data.labels) {
    if (label >= o.classes) {
      throw UsageError("training label " + std::to_string(label) + " needs a model of more than " +
                       std::to_string(o.classes) + " classes");
    }
  }
  if (data.count < 2 * o.batch) {
    throw UsageError("only " + std::to_string(data.count) + " training images for batches of " +
                     std::to_string(o.batch) + "; raise --limit or lower --batch");
  }
}

// Mean cross-entropy of logits (count x classes, row after row) against the labels, for the
// validation curve beside the training loss.
double mean_cross_entropy(const std::vector<float>& logits, const Dataset& data) {
  const std::size_t classes = logits.size() / static_cast<std::size_t>(data.count);
  double total = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(data.count); ++i) {
    const float* row = logits.data() + i * classes;
    const float largest = *std::max_element(row, row + classes);
    double sum = 0;
    for (std::size_t c = 0; c < classes; ++c)
      sum += std::exp(static_cast<double>(row[c] - largest));
    total += std::log(sum) -
             static_cast<double>(row[static_cast<std::size_t>(data.labels[i])] - largest);
  }
  return total / data.count;
}

}  // namespace

std::string TrainOptions::describe() const {
  std::ostringstream s;
  s << "arch=" << arch;
  if (classes != 10) s << " classes=" << classes << " negatives=" << negatives.describe();
  s << " epochs=" << epochs << " batch=" << batch << " lr=" << learning_rate
    << " schedule=" << static_cast<int>(schedule) << " warmup=" << warmup_fraction
    << " optimizer=" << optimizer << " weight_decay=" << weight_decay
    << " label_smoothing=" << label_smoothing << " augment=" << augment.describe()
    << " validation=" << validation_fraction << " limit=" << limit << " seed=" << seed;
  return s.str();
}

Predictions predictions_from_logits(const std::vector<float>& logits, int count) {
  Predictions out;
  const auto n = static_cast<std::size_t>(count);
  out.labels.resize(n);
  out.confidence.resize(n);
  out.top.resize(n);
  out.not_digit.resize(n);
  if (count == 0) return out;
  const auto k = static_cast<int>(logits.size() / n);
  engine::Tensor scores({count, k, 1, 1}), probabilities;
  std::copy(logits.begin(), logits.end(), scores.data());
  engine::softmax_rows(scores, probabilities);
  const int digits = std::min(k, digit_classes);
  for (std::size_t at = 0; at < n; ++at) {
    const float* p = probabilities.item(static_cast<int>(at));
    const int label = argmax(p, digits);
    out.labels[at] = label;
    out.confidence[at] = p[label];
    out.top[at] = argmax(p, k);
    out.not_digit[at] = k > digit_classes ? p[digit_classes] : 0.0f;
  }
  return out;
}

Predictions predict_dataset(engine::Network& network, const Dataset& data, int batch) {
  return predictions_from_logits(dataset_logits(network, data, batch), data.count);
}

std::vector<float> dataset_logits(engine::Network& network, const Dataset& data, int batch) {
  network.set_mode(engine::Mode::inference);
  std::vector<float> out;
  engine::Tensor x;
  for (int start = 0; start < data.count; start += batch) {
    fill_batch_range(data, start, std::min(batch, data.count - start), x);
    const engine::Tensor& logits = network.forward(x);
    out.insert(out.end(), logits.data(), logits.data() + logits.size());
  }
  return out;
}

TrainingRun train_network(const TrainOptions& options, const Dataset& data,
                          const ProgressSink& on_progress, const EpochSink& on_epoch) {
  validate(options, data);
  TrainingRun run{make_architecture(options.arch, options.classes), {}, 0, 0, {}};
  engine::Network& net = run.network;
  net.initialize(options.seed);
  auto optimizer = engine::make_optimizer(options.optimizer, options.weight_decay);

  // A seeded shuffle decides which images are held out for validation.
  std::vector<std::size_t> order(static_cast<std::size_t>(data.count));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(options.seed));
  const auto held_out =
      static_cast<std::size_t>(std::floor(options.validation_fraction * data.count));
  std::vector<std::size_t> validation(order.end() - static_cast<std::ptrdiff_t>(held_out),
                                      order.end());
  std::vector<std::size_t> training(order.begin(),
                                    order.end() - static_cast<std::ptrdiff_t>(held_out));
  run.validation = validation;
  // Each epoch shuffles this fixed order afresh, so an epoch's order depends on (seed, epoch)
  // alone and a resumed run sees the batches the uninterrupted one would have.
  const std::vector<std::size_t> training_order = training;
  const auto batch = static_cast<std::size_t>(options.batch);
  const std::size_t batches = training.size() / batch;  // the ragged tail is dropped
  const engine::Schedule schedule{options.schedule, options.learning_rate,
                                  static_cast<std::int64_t>(batches) * options.epochs,
                                  options.warmup_fraction};

  if (options.resume && !options.checkpoint.empty() &&
      std::filesystem::exists(options.checkpoint)) {
    run.history = load_checkpoint(options.checkpoint, options, net, *optimizer);
    run.resumed_from_epoch = static_cast<int>(run.history.size());
  }

  const auto params = net.params();
  engine::SoftmaxCrossEntropy loss(options.label_smoothing);
  engine::Tensor batches_x[2], dlogits;
  std::vector<int> labels(batch);
  const auto run_start = Clock::now();
  std::size_t images_this_run = 0;
  const std::size_t total_images_left =
      batches * batch * static_cast<std::size_t>(options.epochs - run.resumed_from_epoch);

  int epoch = run.resumed_from_epoch + 1;
  Prefetcher prefetcher([&](std::size_t b, engine::Tensor& out) {
    const std::span<const std::size_t> ids(training.data() + b * batch, batch);
    const std::uint64_t batch_seed =
        options.seed ^ (static_cast<std::uint64_t>(epoch) << 40) ^ (b * 0x9E3779B97F4A7C15ull);
    augment_batch(data, ids, options.augment, batch_seed, out);
  });
  for (; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    training = training_order;
    std::shuffle(training.begin(), training.end(),
                 std::mt19937_64(options.seed * 7919u + static_cast<unsigned>(epoch)));
    reseed_dropout(net, options.seed, epoch);
    net.set_mode(engine::Mode::training);

    prefetcher.start(0, batches_x[0]);
    double loss_sum = 0;
    std::size_t correct = 0, seen = 0;
    auto last_report = Clock::now();
    for (std::size_t b = 0; b < batches; ++b) {
      prefetcher.wait();
      if (b + 1 < batches) prefetcher.start(b + 1, batches_x[(b + 1) % 2]);
      const engine::Tensor& x = batches_x[b % 2];
      for (std::size_t i = 0; i < batch; ++i) labels[i] = data.labels[training[b * batch + i]];

      const engine::Tensor& logits = net.forward(x);
      loss_sum += loss.forward(logits, labels) * static_cast<double>(batch);
      const engine::Tensor& p = loss.probabilities();
      for (std::size_t i = 0; i < batch; ++i) {
        correct += argmax(p.item(static_cast<int>(i)), p.shape().c) == labels[i] ? 1 : 0;
      }
      seen += batch;
      loss.backward(dlogits);
      net.zero_gradients();
      net.backward(dlogits);
      const auto step = static_cast<std::int64_t>((epoch - 1) * batches + b);
      optimizer->step(params, schedule.at(step));

      images_this_run += batch;
      if (on_progress &&
          (seconds_since(last_report) >= progress_interval_seconds || b + 1 == batches)) {
        last_report = Clock::now();
        const double rate = static_cast<double>(images_this_run) / seconds_since(run_start);
        on_progress({epoch, options.epochs, b + 1, batches, loss_sum / static_cast<double>(seen),
                     static_cast<double>(correct) / static_cast<double>(seen), rate,
                     static_cast<double>(total_images_left - images_this_run) / rate});
      }
    }

    EpochStats stats;
    stats.epoch = epoch;
    stats.train_loss = loss_sum / static_cast<double>(seen);
    stats.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    stats.seconds = seconds_since(epoch_start);
    stats.images_per_second = static_cast<double>(seen) / stats.seconds;
    stats.validation_accuracy = std::numeric_limits<double>::quiet_NaN();
    stats.validation_loss = std::numeric_limits<double>::quiet_NaN();
    if (!validation.empty()) {
      const Dataset held = subset(data, validation);
      // One pass over the split gives both the accuracy and the loss.
      const std::vector<float> logits = dataset_logits(net, held, inference_batch);
      const Predictions predicted = predictions_from_logits(logits, held.count);
      std::size_t right = 0;
      for (int i = 0; i < held.count; ++i) {
        right +=
            predicted.top[static_cast<std::size_t>(i)] == held.labels[static_cast<std::size_t>(i)];
      }
      stats.validation_accuracy = static_cast<double>(right) / held.count;
      stats.validation_loss = mean_cross_entropy(logits, held);
    }
    run.history.push_back(stats);
    if (!options.checkpoint.empty()) {
      save_checkpoint(options.checkpoint, options, net, *optimizer, run.history);
    }
    if (on_epoch) on_epoch(stats);
  }
  run.seconds = seconds_since(run_start);
  net.set_mode(engine::Mode::inference);
  return run;
}

}  // namespace digitcam::train
