#include "digitcam/engine/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/gemm.hpp"
#include "digitcam/engine/parallel.hpp"

namespace digitcam::engine {

namespace {

// ---- Tuning ---------------------------------------------------------------------------------
// Backward sums the weight gradient per chunk of this many items (one task each) and then adds
// the chunks in order: fixed chunks make the sums the same for any thread count, and 4 items
// keep 16 tasks for a batch of 64 with 1.2 MB of partial sums for a 32->64 3x3 layer.
constexpr int items_per_chunk = 4;
// Items per thread below which forward runs item by item on a threaded gemm instead (batch-1
// inference): too few items to keep every thread busy otherwise.
constexpr int min_items_per_thread = 2;
// Weight-gradient elements per task when the chunk sums are added up.
constexpr std::size_t reduce_grain = 4096;

// Everything the raw-pointer functions need about one call, computed once per call.
struct Dims {
  Conv2DGeometry g;
  int n, h, w;  // input batch and spatial size
  int oh, ow;   // output spatial size
  int k;        // rows of an item's column matrix: IC*KH*KW
  int plane;    // columns of an item's column matrix: OH*OW

  std::size_t in_plane() const { return static_cast<std::size_t>(h) * w; }
  std::size_t columns() const { return static_cast<std::size_t>(k) * plane; }
};

Dims dims_of(const Conv2DGeometry& g, const Shape& x) {
  const int oh = g.out_h(x.h), ow = g.out_w(x.w);
  return {g, x.n, x.h, x.w, oh, ow, g.in_channels * g.kernel_h * g.kernel_w, oh * ow};
}

// Floats of block copies: stride-1 im2col copies each piece of a column row as whole blocks
// of this many floats, and the buffers it reads and writes end with this much slack.
constexpr int copy_block = 8;

// One item's column matrix, and backward's W^T dy for one item; per thread, grown once, small
// enough to stay in L2 (288 x 121 floats for a 32 -> 64 3x3 layer on 13x13). padded_plane is
// one zero-bordered input plane for stride-1 im2col.
struct ItemBuffers {
  Tensor columns;
  Tensor dcolumns;
  Tensor padded_plane;
};
thread_local ItemBuffers item_buffers;

float* item_columns(const Dims& d) {
  item_buffers.columns.resize({1, 1, 1, d.k * d.plane + copy_block});
  return item_buffers.columns.data();
}

float* item_dcolumns(const Dims& d) {
  item_buffers.dcolumns.resize({1, 1, d.k, d.plane});
  return item_buffers.dcolumns.data();
}

// The outputs ox in [lo, hi) whose input column ox*stride - pad + kx lies inside [0, w).
struct Span {
  int lo, hi;
};
Span valid_outputs(int kx, int stride, int pad, int w, int ow) {
  const int first = pad - kx;         // ox*stride >= first
  const int last = w - 1 + pad - kx;  // ox*stride <= last
  if (last < 0) return {0, 0};
  const int lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int hi = std::min(ow, last / stride + 1);
  return {std::min(lo, hi), hi};
}

// Row pieces here are a dozen floats (one output row); written as 4-float blocks the compiler
// inlines them as vector moves, where a plain loop becomes a memcpy/memset call per piece.
inline void copy_short(const float* __restrict from, float* __restrict to, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const float a = from[i], b = from[i + 1], c = from[i + 2], e = from[i + 3];
    to[i] = a;
    to[i + 1] = b;
    to[i + 2] = c;
    to[i + 3] = e;
  }
  for (; i < count; ++i) to[i] = from[i];
}

inline void zero_short(float* to, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    to[i] = 0.0f;
    to[i + 1] = 0.0f;
    to[i + 2] = 0.0f;
    to[i + 3] = 0.0f;
  }
  for (; i < count; ++i) to[i] = 0.0f;
}

inline void add_short(const float* __restrict from, float* __restrict to, int count) {
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const float a = from[i], b = from[i + 1], c = from[i + 2], e = from[i + 3];
    to[i] += a;
    to[i + 1] += b;
    to[i + 2] += c;
    to[i + 3] += e;
  }
  for (; i < count; ++i) to[i] += from[i];
}

// im2col for stride 1: each input plane is first copied into a zero-bordered plane, so every
// piece of a column row (one output row) is a plain copy of OW floats from it, made as whole
// blocks without tests or zero fills. A piece's last block may overhang into the pieces after
// it, which are written later (cols is filled in address order), or into cols' slack; the
// overhang's source stays inside the padded plane's slack. Same values as the general loop,
// four times faster on 14x14 planes, where pieces are 14 floats.
void im2col_stride1(const Dims& d, const float* __restrict x, float* __restrict cols) {
  const Conv2DGeometry& g = d.g;
  const int ph = d.h + g.pad_top + g.pad_bottom, pw = d.w + g.pad_left + g.pad_right;
  Tensor& padded_plane = item_buffers.padded_plane;
  padded_plane.resize({1, 1, 1, ph * pw + copy_block});
  float* __restrict padded = padded_plane.data();
  std::fill_n(padded, padded_plane.size(), 0.0f);  // borders and slack stay zero below
  const int blocks = (d.ow + copy_block - 1) / copy_block;
  for (int ic = 0; ic < g.in_channels; ++ic) {
    const float* x_plane = x + ic * d.in_plane();
    for (int iy = 0; iy < d.h; ++iy) {
      std::copy_n(x_plane + static_cast<std::ptrdiff_t>(iy) * d.w, d.w,
                  padded + static_cast<std::ptrdiff_t>(iy + g.pad_top) * pw + g.pad_left);
    }
    for (int ky = 0; ky < g.kernel_h; ++ky) {
      for (int kx = 0; kx < g.kernel_w; ++kx) {
        for (int oy = 0; oy < d.oh; ++oy, cols += d.ow) {
          const float* from = padded + static_cast<std::ptrdiff_t>(oy + ky) * pw + kx;
          for (int b = 0; b < blocks; ++b) {
            float block[copy_block];
            std::memcpy(block, from + b * copy_block, sizeof block);
            std::memcpy(cols + b * copy_block, block, sizeof block);
          }
        }
      }
    }
  }
}

// One item's column matrix [IC*KH*KW, OH*OW]:
// cols[(ic*KH + ky)*KW + kx][oy*OW + ox] = x[ic][oy*SH - pad_top + ky][ox*SW - pad_left + kx],
// zero where that falls in the padding.
void im2col(const Dims& d, const float* __restrict x, float* __restrict cols) {
  const Conv2DGeometry& g = d.g;
  if (g.stride_h == 1 && g.stride_w == 1) {
    im2col_stride1(d, x, cols);
    return;
  }
  for (int ic = 0; ic < g.in_channels; ++ic) {
    const float* x_plane = x + ic * d.in_plane();
    for (int ky = 0; ky < g.kernel_h; ++ky) {
      for (int kx = 0; kx < g.kernel_w; ++kx) {
        const Span span = valid_outputs(kx, g.stride_w, g.pad_left, d.w, d.ow);
        for (int oy = 0; oy < d.oh; ++oy, cols += d.ow) {
          const int iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= d.h) {
            zero_short(cols, d.ow);
            continue;
          }
          const float* in = x_plane + static_cast<std::ptrdiff_t>(iy) * d.w - g.pad_left + kx;
          zero_short(cols, span.lo);
          if (g.stride_w == 1) {
            copy_short(in + span.lo, cols + span.lo, span.hi - span.lo);
          } else {
            for (int ox = span.lo; ox < span.hi; ++ox) cols[ox] = in[ox * g.stride_w];
          }
          zero_short(cols + span.hi, d.ow - span.hi);
        }
      }
    }
  }
}

// The adjoint of im2col: dx = the column matrix's entries added back where they were read
// from. Overwrites dx (one item); the order of the sums is fixed.
void col2im(const Dims& d, const float* __restrict cols, float* __restrict dx) {
  const Conv2DGeometry& g = d.g;
  std::fill_n(dx, static_cast<std::size_t>(g.in_channels) * d.in_plane(), 0.0f);
  for (int ic = 0; ic < g.in_channels; ++ic) {
    float* dx_plane = dx + ic * d.in_plane();
    for (int ky = 0; ky < g.kernel_h; ++ky) {
      for (int kx = 0; kx < g.kernel_w; ++kx) {
        const Span span = valid_outputs(kx, g.stride_w, g.pad_left, d.w, d.ow);
        for (int oy = 0; oy < d.oh; ++oy, cols += d.ow) {
          const int iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= d.h) continue;
          float* out = dx_plane + static_cast<std::ptrdiff_t>(iy) * d.w - g.pad_left + kx;
          if (g.stride_w == 1) {
            add_short(cols + span.lo, out + span.lo, span.hi - span.lo);
          } else {
            for (int ox = span.lo; ox < span.hi; ++ox) out[ox * g.stride_w] += cols[ox];
          }
        }
      }
    }
  }
}

// Sum in a fixed order with eight independent running sums, so it vectorises without
// reassociation.
float sum_of(const float* p, int count) {
  float lanes[8] = {};
  int i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += p[i + l];
  }
  for (int l = 0; i < count; ++i, ++l) lanes[l] += p[i];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// ---- Winograd F(2x2, 3x3), inference only ------------------------------------------------
// A 3x3 stride-1 convolution computes each 2x2 output tile from a 4x4 input tile with 16
// multiplies per channel pair instead of 36 (Lavin & Gray 2015): the weights become
// U = G g G^T, each input tile V = B^T d B, the 16 products M = U V are 16 plain GEMMs over
// (channels x tiles), and the output tile is A^T M A. Training keeps im2col, so trained weights
// do not depend on this path; inference results differ from im2col by float rounding only.
constexpr int winograd_positions = 16;  // 4x4 transform positions
// Below this many input channels the GEMMs are too thin to pay for the transforms (the first
// layer of a digit net has one channel: im2col's single GEMM is faster there).
constexpr int winograd_min_in_channels = 8;
// Tiles per task: enough GEMM columns to keep the micro-kernel busy while a task's transformed
// input (16 x IC x tiles floats) stays in L2.
constexpr int winograd_tiles_per_task = 128;
// Largest row of tiles the transforms keep on the stack (outputs up to 256 px wide); wider
// layers use im2col.
constexpr int winograd_max_tiles_w = 128;
// Tiles the transforms compute side by side, as one Lanes value.
constexpr int winograd_lanes = 4;

// Four floats as one value (GCC's vector extension): one SSE register on baseline x86-64.
// The transforms' rows are a dozen tiles long, too short for the compiler's own vectorising
// to pay off (it leaves them scalar). Loads and stores are unaligned.
using Lanes = float __attribute__((vector_size(winograd_lanes * sizeof(float))));
// Lanes of two values are picked with __builtin_shufflevector (0-3 the first's, 4-7 the
// second's), which GCC 12 and clang both have; GCC's __builtin_shuffle is GCC's alone, and the
// fuzzing build is clang's.

inline Lanes load_lanes(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store_lanes(float* p, const Lanes& v) {
  std::memcpy(p, &v, sizeof v);
}

bool winograd_applies(const Conv2DGeometry& g, const Dims& d) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.in_channels >= winograd_min_in_channels && (d.ow + 1) / 2 <= winograd_max_tiles_w;
}

struct WinogradDims {
  int tiles_h, tiles_w;
  int tiles() const { return tiles_h * tiles_w; }
};

// Rows [first, last) of a layer's tiles.
struct TileRows {
  int first, last;
};

// Output channels [first, last).
struct Channels {
  int first, last;
  int count() const { return last - first; }
};

WinogradDims winograd_dims(const Dims& d) {
  return {(d.oh + 1) / 2, (d.ow + 1) / 2};
}

// u [16][OC][IC] = G g G^T for every 3x3 kernel g of w [OC][IC][3][3].
void winograd_transform_weights(const float* w, int oc, int ic, float* u) {
  const std::size_t position_stride = static_cast<std::size_t>(oc) * ic;
  for (int o = 0; o < oc; ++o) {
    for (int i = 0; i < ic; ++i) {
      const float* g = w + (static_cast<std::size_t>(o) * ic + i) * 9;
      float gg[4][3];  // G g
      for (int c = 0; c < 3; ++c) {
        gg[0][c] = g[c];
        gg[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
        gg[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
        gg[3][c] = g[6 + c];
      }
      float* out = u + static_cast<std::size_t>(o) * ic + i;
      for (int r = 0; r < 4; ++r) {
        const float row[4] = {gg[r][0], 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]),
                              0.5f * (gg[r][0] - gg[r][1] + gg[r][2]), gg[r][2]};
        for (int c = 0; c < 4; ++c) out[(r * 4 + c) * position_stride] = row[c];
      }
    }
  }
}

// v [16][IC][ldv] for `items` items starting at x, of their tile rows `band`: column
// (item * tiles in the band + tile) holds B^T d B of that tile's 4x4 input patch d (zero outside
// the image). Each channel's input rows under the band are first copied once into `padded`,
// zero-bordered and split into even and odd columns: a tile's patch starts on an even column,
// so the row pass reads tile tx's four columns as even[tx], odd[tx], even[tx + 1], odd[tx + 1],
// each a contiguous run across tiles. Both passes then run over whole groups of
// winograd_lanes tiles, which vectorise without remainders; a group's lanes past the row's
// last tile write into the next row's place (written after) or the slack of v's rows (ldv is
// at least columns + winograd_lanes).
void winograd_transform_input(const Dims& d, const WinogradDims& wd, const float* x, int items,
                              float* v, int ldv, TileRows band, Tensor& padded) {
  const int ic_count = d.g.in_channels;
  const std::size_t position_stride = static_cast<std::size_t>(ic_count) * ldv;
  const int band_tiles = band.last - band.first;
  const int band_rows = 2 * band_tiles + 2;
  const int grouped = (wd.tiles_w + winograd_lanes - 1) / winograd_lanes * winograd_lanes;
  const int half = grouped + winograd_lanes;  // even (or odd) columns kept per row, with slack
  const int row_width = 2 * wd.tiles_w + 2;   // the input columns one row of tiles reads
  const int first_iy = 2 * band.first - d.g.pad_top;  // the input row of padded row 0
  const int lo = std::min(d.g.pad_left, row_width);   // padded columns [lo, hi) are the image's
  const int hi = std::min(row_width, d.g.pad_left + d.w);
  padded.resize({1, 1, band_rows, 2 * half});  // row r: evens, then odds
  constexpr int most = 2 * (winograd_max_tiles_w + 2 * winograd_lanes);
  float natural[most];  // one input row
  for (int item = 0; item < items; ++item) {
    for (int ic = 0; ic < ic_count; ++ic) {
      const float* plane = x + (static_cast<std::size_t>(item) * ic_count + ic) * d.in_plane();
      float* rows = padded.data();
      for (int r = 0; r < band_rows; ++r) {
        float* even = rows + static_cast<std::ptrdiff_t>(r) * 2 * half;
        float* odd = even + half;
        const int iy = first_iy + r;
        if (iy < 0 || iy >= d.h) {
          zero_short(even, 2 * half);
          continue;
        }
        // The row in its own order first (zero-bordered), then split four pairs at a time.
        zero_short(natural, 2 * half);
        copy_short(plane + static_cast<std::ptrdiff_t>(iy) * d.w + (lo - d.g.pad_left),
                   natural + lo, hi - lo);
        for (int j = 0; j < half; j += winograd_lanes) {
          const Lanes first = load_lanes(natural + 2 * j);
          const Lanes second = load_lanes(natural + 2 * j + winograd_lanes);
          store_lanes(even + j, __builtin_shufflevector(first, second, 0, 2, 4, 6));
          store_lanes(odd + j, __builtin_shufflevector(first, second, 1, 3, 5, 7));
        }
      }
      float* out = v + static_cast<std::size_t>(ic) * ldv + item * band_tiles * wd.tiles_w;
      for (int ty = band.first; ty < band.last; ++ty, out += wd.tiles_w) {
        const float* r0 = rows + static_cast<std::ptrdiff_t>(ty - band.first) * 4 * half;
        for (int tx = 0; tx < grouped; tx += winograd_lanes) {
          // A tile's four columns (even, odd, next even, next odd) in each of its four rows,
          // B^T down each column (q), then B across each row of q: nothing leaves registers.
          Lanes patch[4][4];
          for (int r = 0; r < 4; ++r) {
            const float* row = r0 + static_cast<std::ptrdiff_t>(r) * 2 * half;
            patch[r][0] = load_lanes(row + tx);
            patch[r][1] = load_lanes(row + half + tx);
            patch[r][2] = load_lanes(row + tx + 1);
            patch[r][3] = load_lanes(row + half + tx + 1);
          }
          for (int k = 0; k < 4; ++k) {
            Lanes q[4];
            for (int c = 0; c < 4; ++c) {
              const Lanes a = patch[0][c], b = patch[1][c], e = patch[2][c], f = patch[3][c];
              q[c] = k == 0 ? a - e : k == 1 ? b + e : k == 2 ? e - b : b - f;
            }
            float* v0 = out + (k * 4) * position_stride + tx;
            store_lanes(v0, q[0] - q[2]);
            store_lanes(v0 + position_stride, q[1] + q[2]);
            store_lanes(v0 + 2 * position_stride, q[2] - q[1]);
            store_lanes(v0 + 3 * position_stride, q[1] - q[3]);
          }
        }
      }
    }
  }
}

// y (items from `y`) = A^T m A + bias for the output channels `channels` (m [16][channels]
// [ldm]) and every tile in the tile rows `band`, clipped to the output size, then `after`
// (when given); row by row of tiles like the input transform, in whole groups of
// winograd_lanes tiles (the lanes past a row's last tile read the next row's products or the
// slack of m's rows, ldm at least columns + winograd_lanes, and are dropped), the even and odd
// output columns side by side and interleaved at the end.
void winograd_transform_output(const Dims& d, const WinogradDims& wd, const float* m, int items,
                               int ldm, Channels channels, const float* bias,
                               const ChannelEpilogue* after, float* y, TileRows band) {
  const int oc_count = d.g.out_channels;
  const std::size_t position_stride = static_cast<std::size_t>(channels.count()) * ldm;
  const int band_tiles = band.last - band.first;
  const int grouped = (wd.tiles_w + winograd_lanes - 1) / winograd_lanes * winograd_lanes;
  float out_rows[2][2 * (winograd_max_tiles_w + winograd_lanes)];
  const Lanes zero{};
  for (int item = 0; item < items; ++item) {
    for (int oc = channels.first; oc < channels.last; ++oc) {
      const float* in =
          m + static_cast<std::size_t>(oc - channels.first) * ldm + item * band_tiles * wd.tiles_w;
      float* plane = y + (static_cast<std::size_t>(item) * oc_count + oc) * d.plane;
      const float bias_oc = bias[oc];
      // The epilogue's scale and shift, applied as ChannelEpilogue::apply does, lane by lane.
      const bool affine = after != nullptr && !after->scale.empty();
      const bool relu = after != nullptr && after->relu;
      const float scale = affine ? after->scale[static_cast<std::size_t>(oc)] : 1.0f;
      const float shift = affine ? after->shift[static_cast<std::size_t>(oc)] : 0.0f;
      for (int ty = band.first; ty < band.last; ++ty, in += wd.tiles_w) {
        for (int tx = 0; tx < grouped; tx += winograd_lanes) {
          // A^T down each of the four transform columns (two rows s0, s1), then across.
          Lanes s0[4], s1[4];
          for (int c = 0; c < 4; ++c) {
            const float* at = in + c * position_stride + tx;
            const Lanes m0 = load_lanes(at), m1 = load_lanes(at + 4 * position_stride),
                        m2 = load_lanes(at + 8 * position_stride),
                        m3 = load_lanes(at + 12 * position_stride);
            s0[c] = m0 + m1 + m2;
            s1[c] = m1 - m2 - m3;
          }
          for (int r = 0; r < 2; ++r) {
            const Lanes* sr = r == 0 ? s0 : s1;
            Lanes even = sr[0] + sr[1] + sr[2] + bias_oc;
            Lanes odd = sr[1] - sr[2] - sr[3] + bias_oc;
            if (affine) {
              even = even * scale + shift;
              odd = odd * scale + shift;
            }
            if (relu) {  // std::max(v, 0.0f), lane by lane
              even = even < zero ? zero : even;
              odd = odd < zero ? zero : odd;
            }
            store_lanes(out_rows[r] + 2 * tx, __builtin_shufflevector(even, odd, 0, 4, 1, 5));
            store_lanes(out_rows[r] + 2 * tx + winograd_lanes,
                        __builtin_shufflevector(even, odd, 2, 6, 3, 7));
          }
        }
        const int oy = 2 * ty;
        for (int r = 0; r < 2 && oy + r < d.oh; ++r) {
          copy_short(out_rows[r], plane + (oy + r) * d.ow, d.ow);
        }
      }
    }
  }
}

// How a batch-1 Winograd layer is shared among threads: bands of tile rows (every channel),
// or parts of the output channels (every row); the one whose largest part runs fewer
// micro-kernel tiles a position, rows on a tie (each thread then transforms only its rows of
// the input, where a channel part transforms all of it).
struct BatchOneSplit {
  int rows_per_band;      // == tiles_h: not split by rows
  int channels_per_part;  // == out_channels: not split by channels
};

BatchOneSplit batch_one_split(const WinogradDims& wd, int out_channels, int threads) {
  const MicroTile tile = gemm_micro_tile();
  const auto ceil_div = [](int a, int b) { return (a + b - 1) / b; };
  const int rows_per_band = ceil_div(wd.tiles_h, threads);
  const int by_rows =
      ceil_div(rows_per_band * wd.tiles_w, tile.columns) * ceil_div(out_channels, tile.rows);
  const int channels_per_part = ceil_div(ceil_div(out_channels, threads), tile.rows) * tile.rows;
  const int by_channels =
      ceil_div(wd.tiles(), tile.columns) * ceil_div(channels_per_part, tile.rows);
  if (threads > 1 && by_channels < by_rows) return {wd.tiles_h, channels_per_part};
  return {rows_per_band, out_channels};
}

struct WinogradBuffers {
  Tensor padded;   // one channel's input rows under a band of tiles: zero-bordered, split
  Tensor input;    // [16][IC][columns]
  Tensor product;  // [16][OC][columns]
};
thread_local WinogradBuffers winograd_buffers;

void validate(const Conv2DGeometry& g) {
  if (g.in_channels < 1 || g.out_channels < 1 || g.kernel_h < 1 || g.kernel_w < 1 ||
      g.stride_h < 1 || g.stride_w < 1) {
    throw ShapeError("Conv2D: channels, kernel and stride must be positive (got " +
                     std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) +
                     " channels, kernel " + std::to_string(g.kernel_h) + "x" +
                     std::to_string(g.kernel_w) + ", stride " + std::to_string(g.stride_h) + "x" +
                     std::to_string(g.stride_w) + ")");
  }
  if (g.pad_top < 0 || g.pad_left < 0 || g.pad_bottom < 0 || g.pad_right < 0) {
    throw ShapeError("Conv2D: pads must not be negative");
  }
}

}  // namespace

Conv2D::Conv2D(const Conv2DGeometry& geometry) : geometry_(geometry) {
  validate(geometry_);
  const Conv2DGeometry& g = geometry_;
  weight_ = Tensor({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w});
  dweight_ = Tensor(weight_.shape());
  bias_ = Tensor({1, g.out_channels, 1, 1});
  dbias_ = Tensor(bias_.shape());
}

Shape Conv2D::output_shape(const Shape& x) const {
  const Conv2DGeometry& g = geometry_;
  const Shape expected{x.n, g.in_channels, std::max(x.h, g.kernel_h), std::max(x.w, g.kernel_w)};
  if (x.c != g.in_channels || x.h + g.pad_top + g.pad_bottom < g.kernel_h ||
      x.w + g.pad_left + g.pad_right < g.kernel_w || x.n < 1) {
    throw ShapeError("Conv2D: input " + x.str() + " does not fit a " + std::to_string(g.kernel_h) +
                     "x" + std::to_string(g.kernel_w) + " convolution over " +
                     std::to_string(g.in_channels) + " channels; expected a shape like " +
                     expected.str());
  }
  return {x.n, g.out_channels, g.out_h(x.h), g.out_w(x.w)};
}

std::vector<Param> Conv2D::params() {
  return {{"weight", &weight_, &dweight_, true}, {"bias", &bias_, &dbias_, false}};
}

void Conv2D::initialize(std::uint64_t seed) {
  const Conv2DGeometry& g = geometry_;
  const int fan_in = g.in_channels * g.kernel_h * g.kernel_w;
  const float bound = std::sqrt(6.0f / static_cast<float>(fan_in));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-bound, bound);
  for (float& v : weight_.values()) v = dist(rng);
  bias_.zero();
}

void Conv2D::set_parameters_fixed(bool fixed) {
  Layer::set_parameters_fixed(fixed);
  winograd_checked_while_fixed_ = false;  // weights written before the promise are seen
}

void Conv2D::forward(const Tensor& x, Tensor& y) {
  forward_with(x, y, nullptr);
}

void Conv2D::forward_then(const Tensor& x, Tensor& y, const ChannelEpilogue& after) {
  forward_with(x, y, after.empty() ? nullptr : &after);
}

void Conv2D::forward_with(const Tensor& x, Tensor& y, const ChannelEpilogue* after) {
  const Shape out = output_shape(x.shape());
  const Dims d = dims_of(geometry_, x.shape());
  const int oc = geometry_.out_channels;
  x_ = &x;
  y.resize(out);
  if (mode() == Mode::inference && winograd_applies(geometry_, d)) {
    forward_winograd(x, y, after);
    return;
  }

  // y_n [OC, OH*OW] = W [OC, IC*KH*KW] x cols_n + bias: the gemm writes NCHW directly.
  packed_weights_.pack(Transpose::no, oc, d.k, weight_.data(), d.k);
  const auto run_item = [&](int item, int gemm_threads) {
    float* cols = item_columns(d);
    im2col(d, x.item(item), cols);
    float* y_item = y.item(item);
    for (int c = 0; c < oc; ++c) std::fill_n(y_item + c * d.plane, d.plane, bias_.data()[c]);
    gemm(packed_weights_, Transpose::no, d.plane, 1.0f, cols, d.plane, 1.0f, y_item, d.plane,
         gemm_threads);
    if (after == nullptr) return;
    for (int c = 0; c < oc; ++c) {
      after->apply(c, y_item + c * d.plane, static_cast<std::size_t>(d.plane));
    }
  };
  const int threads = available_threads();
  if (d.n < min_items_per_thread * threads) {
    for (int item = 0; item < d.n; ++item) run_item(item, threads);
    return;
  }
  parallel_for(static_cast<std::size_t>(d.n), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t item = begin; item < end; ++item) run_item(static_cast<int>(item), 1);
  });
}

void Conv2D::forward_winograd(const Tensor& x, Tensor& y, const ChannelEpilogue* after) {
  const Dims d = dims_of(geometry_, x.shape());
  const WinogradDims wd = winograd_dims(d);
  const int ic = geometry_.in_channels, oc = geometry_.out_channels;
  // The transformed weights are kept while the weights stay the same; comparing them is cheap
  // next to the transform and catches every way of writing them (optimizer, loader, tests). The
  // bytes are compared (memcmp is vectorised; a float-by-float loop with an early exit is not,
  // and took an eighth of a batch-1 forward pass): equal bytes are equal weights. With the
  // parameters promised fixed they are compared once, not on every forward (about 5% of a
  // batch-1 pass of the default model: 290 KB of weights).
  const bool current =
      winograd_source_.shape() == weight_.shape() &&
      ((parameters_fixed() && winograd_checked_while_fixed_) ||
       std::memcmp(weight_.data(), winograd_source_.data(), weight_.size() * sizeof(float)) == 0);
  winograd_checked_while_fixed_ = parameters_fixed();
  if (!current) {
    winograd_source_ = weight_;
    Tensor transformed({winograd_positions, 1, oc, ic});
    winograd_transform_weights(weight_.data(), oc, ic, transformed.data());
    for (int p = 0; p < winograd_positions; ++p) {
      winograd_weights_[p].pack(Transpose::no, oc, ic, transformed.item(p), ic);
    }
  }

  // `items` items from x, their tile rows `band`, output channels `channels`: transformed,
  // multiplied and transformed back into y by the calling thread. An output value's products
  // do not depend on the others, so every value comes out the same whichever items, rows and
  // channels share a call.
  const auto run = [&](const float* x_items, int items, TileRows band, Channels channels,
                       float* y_items) {
    const int columns = items * (band.last - band.first) * wd.tiles_w;
    const int ldv = columns + winograd_lanes;  // slack for the transforms' last group of tiles
    WinogradBuffers& buffers = winograd_buffers;
    buffers.input.resize({winograd_positions, 1, ic, ldv});
    buffers.product.resize({winograd_positions, 1, channels.count(), ldv});
    winograd_transform_input(d, wd, x_items, items, buffers.input.data(), ldv, band,
                             buffers.padded);
    for (int p = 0; p < winograd_positions; ++p) {
      gemm_rows(winograd_weights_[p], channels.first, channels.count(), Transpose::no, columns,
                1.0f, buffers.input.item(p), ldv, 0.0f, buffers.product.item(p), ldv, 1);
    }
    winograd_transform_output(d, wd, buffers.product.data(), items, ldv, channels, bias_.data(),
                              after, y_items, band);
  };
  const Channels all_channels{0, oc};
  if (d.n == 1) {
    // A single crop would be one task, leaving the other threads idle: its rows of tiles are
    // shared out, or its output channels where that leaves each thread fewer micro-kernel
    // tiles (a small plane's rows of tiles are too few columns to fill them). Inside another
    // parallel loop the parts would run one after the other on this thread, where a channel
    // split transforms the input once per part: one part then.
    const int threads = inside_parallel_chunk() ? 1 : available_threads();
    const BatchOneSplit split = batch_one_split(wd, oc, threads);
    if (split.channels_per_part < oc) {
      parallel_for(static_cast<std::size_t>(oc), static_cast<std::size_t>(split.channels_per_part),
                   [&](std::size_t begin, std::size_t end) {
                     run(x.data(), 1, {0, wd.tiles_h},
                         {static_cast<int>(begin), static_cast<int>(end)}, y.data());
                   });
      return;
    }
    parallel_for(static_cast<std::size_t>(wd.tiles_h),
                 static_cast<std::size_t>(split.rows_per_band),
                 [&](std::size_t begin, std::size_t end) {
                   run(x.data(), 1, {static_cast<int>(begin), static_cast<int>(end)}, all_channels,
                       y.data());
                 });
    return;
  }
  const int items_per_task = std::max(1, winograd_tiles_per_task / wd.tiles());
  parallel_for(static_cast<std::size_t>(d.n), static_cast<std::size_t>(items_per_task),
               [&](std::size_t begin, std::size_t end) {
                 const int first = static_cast<int>(begin);
                 run(x.item(first), static_cast<int>(end - begin), {0, wd.tiles_h}, all_channels,
                     y.item(first));
               });
}

void Conv2D::backward(const Tensor& dy, Tensor& dx) {
  if (x_ == nullptr) throw ShapeError("Conv2D: backward needs a forward pass first");
  const Shape out = output_shape(x_->shape());
  if (!(dy.shape() == out)) {
    throw ShapeError("Conv2D: gradient " + dy.shape().str() +
                     " does not match the forward output " + out.str());
  }
  const Dims d = dims_of(geometry_, x_->shape());
  const int oc = geometry_.out_channels;
  const std::size_t weights = static_cast<std::size_t>(oc) * d.k;
  const int chunks = (d.n + items_per_chunk - 1) / items_per_chunk;
  partial_dweight_.resize({chunks, 1, 1, static_cast<int>(weights)});
  partial_dbias_.resize({chunks, 1, 1, oc});
  const bool want_dx = input_gradient();
  if (want_dx) {
    dx.resize(x_->shape());
    packed_weights_.pack(Transpose::yes, d.k, oc, weight_.data(), d.k);
  }

  parallel_for(static_cast<std::size_t>(chunks), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t chunk = begin; chunk < end; ++chunk) {
      float* dw = partial_dweight_.item(static_cast<int>(chunk));
      float* db = partial_dbias_.item(static_cast<int>(chunk));
      const int first = static_cast<int>(chunk) * items_per_chunk;
      const int last = std::min(d.n, first + items_per_chunk);
      for (int item = first; item < last; ++item) {
        const float* dy_item = dy.item(item);  // [OC, OH*OW]
        // Rebuilt rather than kept from forward: it stays in cache, where keeping every item's
        // would stream the whole batch's (9 MB for 32 -> 64 on 13x13) out to memory and back.
        float* cols = item_columns(d);
        im2col(d, x_->item(item), cols);
        // dW_chunk [OC, IC*KH*KW] += dy_n cols_n^T
        gemm_serial(Transpose::no, Transpose::yes, oc, d.k, d.plane, 1.0f, dy_item, d.plane, cols,
                    d.plane, item == first ? 0.0f : 1.0f, dw, d.k);
        for (int c = 0; c < oc; ++c) {
          const float s = sum_of(dy_item + c * d.plane, d.plane);
          db[c] = item == first ? s : db[c] + s;
        }
        if (!want_dx) continue;
        // dcols_n = W^T dy_n, then scattered back into dx_n.
        float* dcols = item_dcolumns(d);
        gemm(packed_weights_, Transpose::no, d.plane, 1.0f, dy_item, d.plane, 0.0f, dcols, d.plane,
             1);
        col2im(d, dcols, dx.item(item));
      }
    }
  });

  // Chunk sums added in chunk order, whatever thread computed them (into chunk 0's sums).
  parallel_for(weights, reduce_grain, [&](std::size_t begin, std::size_t end) {
    float* __restrict total = partial_dweight_.data();
    for (int chunk = 1; chunk < chunks; ++chunk) {
      const float* __restrict part = partial_dweight_.item(chunk);
      for (std::size_t i = begin; i < end; ++i) total[i] += part[i];
    }
    float* __restrict dw = dweight_.data();
    for (std::size_t i = begin; i < end; ++i) dw[i] += total[i];
  });
  for (int c = 0; c < oc; ++c) {
    float s = partial_dbias_.data()[c];
    for (int chunk = 1; chunk < chunks; ++chunk) s += partial_dbias_.item(chunk)[c];
    dbias_.data()[c] += s;
  }
}

void conv2d_forward_reference(const Conv2DGeometry& g, const Tensor& x, const Tensor& weight,
                              const Tensor& bias, Tensor& y) {
  const Shape& s = x.shape();
  const int oh = g.out_h(s.h), ow = g.out_w(s.w);
  y.resize({s.n, g.out_channels, oh, ow});
  for (int n = 0; n < s.n; ++n)
    for (int oc = 0; oc < g.out_channels; ++oc)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double sum = bias.data()[oc];
          for (int ic = 0; ic < g.in_channels; ++ic)
            for (int ky = 0; ky < g.kernel_h; ++ky)
              for (int kx = 0; kx < g.kernel_w; ++kx) {
                const int iy = oy * g.stride_h - g.pad_top + ky;
                const int ix = ox * g.stride_w - g.pad_left + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                sum += static_cast<double>(x.at(n, ic, iy, ix)) * weight.at(oc, ic, ky, kx);
              }
          y.at(n, oc, oy, ox) = static_cast<float>(sum);
        }
}

}  // namespace digitcam::engine
