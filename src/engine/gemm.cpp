#include "digitcam/engine/gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "digitcam/engine/error.hpp"
#include "digitcam/engine/parallel.hpp"

// How gemm() works (the BLIS/GotoBLAS scheme, cut down to what a small CNN needs):
// - K is cut into blocks of at most kc_max; each C element is the sum over the blocks in order,
//   each block's part being one fused multiply-add chain in the micro-kernel. Nothing about this
//   order depends on the thread count, so results are bitwise the same for 1 or 16 threads.
// - C is cut into tasks (m-block x column chunk) that run in parallel and never share an output.
//   A task packs its A block (MC x KC, kept in L2) and, one at a time, each B micro-panel
//   (KC x 16, kept in L1), then sweeps the micro-kernel down the A block.
// - Packed panels are zero-padded to whole register tiles, so the micro-kernel always runs a
//   full 6x16 tile and only its store is masked at the edges of C.

// Instruction sets for the fast kernel; the rest of the build targets baseline x86-64.
#define DIGITCAM_AVX2 __attribute__((target("avx2,fma")))

namespace digitcam::engine {

namespace {

// ---- Tuning, for a Zen 4 class core (32 KiB L1d, 1 MiB L2); fine on any recent x86 ----------
// Register tile: 6x16 = 12 accumulators + 2 B vectors + 1 A broadcast = 15 of the 16 ymm.
constexpr int mr = 6;
constexpr int nr = 16;
// Longest k-block: a B micro-panel (384 x 16 floats = 24 KiB) stays in L1 while the 6-row A
// micro-panels (9 KiB each) stream past it from L2. K = 288 (3x3x32) is then a single block.
constexpr int kc_max = 384;
// Packed A per task and packed B per column block; together they sit in L2.
constexpr std::size_t a_block_bytes = 512 * 1024;
constexpr std::size_t b_block_bytes = 256 * 1024;
// Multiply-adds (m*n*k) below which a call runs on the calling thread alone. Every layer of a
// batch-1 inference is below it: handing a few million multiply-adds to sleeping TBB workers
// cost more than it saved (digitcam bench: 750 us per crop threaded, 410 us on one thread).
constexpr double serial_work = 4194304;
// Multiply-adds above which a call is cut into several tasks per thread, so one core slowed by
// other work does not hold the whole call back.
constexpr double balance_work = 4.0e6;
constexpr int tasks_per_thread = 4;
// Narrowest column chunk given a task of its own while there are enough: every task packs its
// whole A block, so narrower chunks spend too much on packing.
constexpr int min_chunk_panels = 8;
// Floats written past the end of a packed A block by the overlapping stores of pack_a_avx2.
constexpr int pack_slack = 8;
// C = A B^T with both stored along k and one side of C shorter than this skips packing: each
// packed element would be used fewer than 16 times, so packing costs more than it saves (a
// matrix-vector product; a weight gradient with 9 columns). Dot products of 2 A rows with 4 B
// rows, 8 lanes each, run over k-blocks of dot_kc (4 KiB per row, 24 KiB per tile in L1).
constexpr int dot_max_side = 16;
constexpr int dot_rows = 2;
constexpr int dot_cols = 4;
constexpr int dot_lanes = 8;
constexpr int dot_kc = 1024;

// op(X) of a stored row-major matrix: element (r, c) is data[r*ld + c], or data[c*ld + r]
// when transposed.
struct Operand {
  const float* data;
  int ld;
  bool trans;
};

using MicroKernel = void (*)(int kc, const float* a, const float* b, float* c, int ldc, int rows,
                             int cols, float alpha, float beta);
// Packs rows [i0, i0+rows) x k-range [k0, k0+kc) of op(A) as consecutive mr-row panels:
// panel q holds dst[q*mr*kc + p*mr + i] = op(A)(i0 + q*mr + i, k0+p), zero past the last row.
using PackA = void (*)(const Operand& a, int i0, int rows, int k0, int kc, float* dst);
// Packs k-range [k0, k0+kc) x columns [j0, j0+cols) of op(B) as consecutive nr-column panels:
// panel q holds dst[q*nr*kc + p*nr + j] = op(B)(k0+p, j0 + q*nr + j), zero past the last column.
using PackB = void (*)(const Operand& b, int k0, int kc, int j0, int cols, float* dst);

// Lane sums of the dot products of dot_rows A rows with dot_cols B rows over [0, kc):
// partial[(r*dot_cols + c)*dot_lanes + lane] gets lane `lane` of dot(a[r], b[c]), added to what
// is there unless `first`.
using DotKernel = void (*)(const float* const* a, const float* const* b, int kc, float* partial,
                           bool first);

struct Kernels {
  MicroKernel micro;
  PackA pack_a;
  PackB pack_b;
  DotKernel dot;
  const char* name;
};

// ---- Portable kernel: plain C++ the compiler vectorises for baseline x86-64 or any CPU -----

int ceil_div(int a, int b) {
  return (a + b - 1) / b;
}
int round_up(int a, int b) {
  return ceil_div(a, b) * b;
}

// Both packs walk the stored matrix along its rows, so reads stream through memory whatever
// the transposition; the panels they fill are small enough to stay in cache while written.
void pack_a_portable(const Operand& a, int i0, int rows, int k0, int kc, float* dst) {
  const int padded = round_up(rows, mr);
  for (int q = 0; q < padded / mr; ++q) {
    float* panel = dst + static_cast<std::ptrdiff_t>(q) * mr * kc;
    for (int p = 0; p < kc; ++p) {
      for (int i = 0; i < mr; ++i) panel[p * mr + i] = 0.0f;
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* panel = dst + static_cast<std::ptrdiff_t>(i / mr) * mr * kc + i % mr;
    if (a.trans) {
      const float* src = a.data + static_cast<std::ptrdiff_t>(k0) * a.ld + i0 + i;
      for (int p = 0; p < kc; ++p) panel[p * mr] = src[static_cast<std::ptrdiff_t>(p) * a.ld];
    } else {
      const float* src = a.data + static_cast<std::ptrdiff_t>(i0 + i) * a.ld + k0;
      for (int p = 0; p < kc; ++p) panel[p * mr] = src[p];
    }
  }
}

void pack_b_portable(const Operand& b, int k0, int kc, int j0, int cols, float* dst) {
  const int padded = round_up(cols, nr);
  if (b.trans) {
    for (int j = 0; j < padded; ++j) {
      float* panel = dst + static_cast<std::ptrdiff_t>(j / nr) * nr * kc + j % nr;
      const float* src = b.data + static_cast<std::ptrdiff_t>(j0 + j) * b.ld + k0;
      for (int p = 0; p < kc; ++p) panel[p * nr] = j < cols ? src[p] : 0.0f;
    }
    return;
  }
  for (int p = 0; p < kc; ++p) {
    const float* src = b.data + static_cast<std::ptrdiff_t>(k0 + p) * b.ld + j0;
    for (int j = 0; j < padded; ++j) {
      dst[static_cast<std::ptrdiff_t>(j / nr) * nr * kc + p * nr + j % nr] =
          j < cols ? src[j] : 0.0f;
    }
  }
}

void micro_kernel_portable(int kc, const float* a, const float* b, float* c, int ldc, int rows,
                           int cols, float alpha, float beta) {
  float acc[mr][nr] = {};
  for (int p = 0; p < kc; ++p) {
    for (int i = 0; i < mr; ++i) {
      const float ai = a[p * mr + i];
      for (int j = 0; j < nr; ++j) acc[i][j] += ai * b[p * nr + j];
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* ci = c + static_cast<std::ptrdiff_t>(i) * ldc;
    for (int j = 0; j < cols; ++j) {
      ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
    }
  }
}

void dot_kernel_portable(const float* const* a, const float* const* b, int kc, float* partial,
                         bool first) {
  float acc[dot_rows][dot_cols][dot_lanes] = {};
  for (int p = 0; p < kc; ++p) {
    for (int r = 0; r < dot_rows; ++r) {
      for (int c = 0; c < dot_cols; ++c) acc[r][c][p % dot_lanes] += a[r][p] * b[c][p];
    }
  }
  for (int r = 0; r < dot_rows; ++r) {
    for (int c = 0; c < dot_cols; ++c) {
      float* out = partial + (r * dot_cols + c) * dot_lanes;
      for (int l = 0; l < dot_lanes; ++l) out[l] = first ? acc[r][c][l] : out[l] + acc[r][c][l];
    }
  }
}

// ---- AVX2 + FMA kernel -------------------------------------------------------------------

// Transposes the 8x8 block held in r[0..7] (row i in r[i]) in registers.
DIGITCAM_AVX2 inline void transpose_8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Lanes [0, count) set.
DIGITCAM_AVX2 inline __m256i first_lanes(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Panels of an untransposed A are a transpose (each k takes one float from six rows): 8x8
// register transposes of the six rows plus two zero rows. Panels of a transposed A copy six
// floats per k. Either way each k is stored as 8 floats whose last 2 spill into the next k's
// slot and are overwritten by the next store (hence pack_slack). Missing rows are zero.
DIGITCAM_AVX2 void pack_a_avx2(const Operand& a, int i0, int rows, int k0, int kc, float* dst) {
  for (int q = 0; q * mr < rows; ++q, dst += static_cast<std::ptrdiff_t>(mr) * kc) {
    const int valid = std::min(mr, rows - q * mr);
    const int first_row = i0 + q * mr;
    if (a.trans) {
      const __m256i mask = first_lanes(valid);
      const float* src = a.data + static_cast<std::ptrdiff_t>(k0) * a.ld + first_row;
      for (int p = 0; p < kc; ++p, src += a.ld) {
        _mm256_storeu_ps(dst + p * mr, _mm256_maskload_ps(src, mask));
      }
      continue;
    }
    const float* src[mr];
    for (int i = 0; i < mr; ++i) {
      src[i] = a.data + static_cast<std::ptrdiff_t>(first_row + std::min(i, valid - 1)) * a.ld + k0;
    }
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 r[8];
#pragma GCC unroll 6
      for (int i = 0; i < mr; ++i) {
        r[i] = i < valid ? _mm256_loadu_ps(src[i] + p) : _mm256_setzero_ps();
      }
      r[6] = r[7] = _mm256_setzero_ps();
      transpose_8x8(r);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_storeu_ps(dst + (p + t) * mr, r[t]);
    }
    for (; p < kc; ++p) {
      for (int i = 0; i < mr; ++i) dst[p * mr + i] = i < valid ? src[i][p] : 0.0f;
    }
  }
}

// Panels of an untransposed B copy 16 floats per k, row by row of the stored matrix so reads
// stream. Panels of a transposed B are a transpose (each k takes one float from 16 stored rows):
// two 8x8 register transposes per 8 values of k. Missing columns are zero.
DIGITCAM_AVX2 void pack_b_avx2(const Operand& b, int k0, int kc, int j0, int cols, float* dst) {
  const int full = cols / nr * nr;
  if (!b.trans) {
    const __m256i mask_lo = first_lanes(cols - full), mask_hi = first_lanes(cols - full - 8);
    for (int p = 0; p < kc; ++p) {
      const float* src = b.data + static_cast<std::ptrdiff_t>(k0 + p) * b.ld + j0;
      float* out = dst + p * nr;
      int j = 0;
      for (; j < full; j += nr, out += static_cast<std::ptrdiff_t>(nr) * kc) {
        _mm256_store_ps(out, _mm256_loadu_ps(src + j));
        _mm256_store_ps(out + 8, _mm256_loadu_ps(src + j + 8));
      }
      if (j < cols) {
        _mm256_store_ps(out, _mm256_maskload_ps(src + j, mask_lo));
        _mm256_store_ps(out + 8, _mm256_maskload_ps(src + j + 8, mask_hi));
      }
    }
    return;
  }
  for (int q = 0; q * nr < cols; ++q, dst += static_cast<std::ptrdiff_t>(nr) * kc) {
    const int valid = std::min(nr, cols - q * nr);
    const float* src[nr];
    for (int j = 0; j < nr; ++j) {
      src[j] =
          b.data + static_cast<std::ptrdiff_t>(j0 + q * nr + std::min(j, valid - 1)) * b.ld + k0;
    }
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int t = 0; t < 8; ++t) {
          const int j = half * 8 + t;
          r[t] = j < valid ? _mm256_loadu_ps(src[j] + p) : _mm256_setzero_ps();
        }
        transpose_8x8(r);
#pragma GCC unroll 8
        for (int t = 0; t < 8; ++t) _mm256_store_ps(dst + (p + t) * nr + half * 8, r[t]);
      }
    }
    for (; p < kc; ++p) {
      for (int j = 0; j < nr; ++j) dst[p * nr + j] = j < valid ? src[j][p] : 0.0f;
    }
  }
}

// C tile = alpha * acc + beta * C; C is not read when beta == 0. Masked at the right edge.
DIGITCAM_AVX2 inline void store_row(float* c, __m256 lo, __m256 hi, int cols, __m256 alpha,
                                    __m256 beta, bool read_c) {
  if (cols == nr) {
    if (read_c) {
      lo = _mm256_fmadd_ps(alpha, lo, _mm256_mul_ps(beta, _mm256_loadu_ps(c)));
      hi = _mm256_fmadd_ps(alpha, hi, _mm256_mul_ps(beta, _mm256_loadu_ps(c + 8)));
    } else {
      lo = _mm256_mul_ps(alpha, lo);
      hi = _mm256_mul_ps(alpha, hi);
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
    return;
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
  const __m256i mask_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
  if (read_c) {
    lo = _mm256_fmadd_ps(alpha, lo, _mm256_mul_ps(beta, _mm256_maskload_ps(c, mask_lo)));
    hi = _mm256_fmadd_ps(alpha, hi, _mm256_mul_ps(beta, _mm256_maskload_ps(c + 8, mask_hi)));
  } else {
    lo = _mm256_mul_ps(alpha, lo);
    hi = _mm256_mul_ps(alpha, hi);
  }
  _mm256_maskstore_ps(c, mask_lo, lo);
  _mm256_maskstore_ps(c + 8, mask_hi, hi);
}

DIGITCAM_AVX2 void micro_kernel_avx2(int kc, const float* a, const float* b, float* c, int ldc,
                                     int rows, int cols, float alpha, float beta) {
  __m256 acc[mr][2];
#pragma GCC unroll 6
  for (int i = 0; i < mr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int i = 0; i < rows; ++i)
    _mm_prefetch(c + static_cast<std::ptrdiff_t>(i) * ldc, _MM_HINT_T0);
  if (cols <= nr / 2) {
    // A panel's last few columns (a 14x14 Winograd layer has 49 tiles: 3 full panels and 1
    // column): the left half of the kernel is enough. Each column gets the same multiply-adds in
    // the same order as in the full kernel, so the results are the same to the bit.
    for (int p = 0; p < kc; ++p) {
      const __m256 b0 = _mm256_load_ps(b);
#pragma GCC unroll 6
      for (int i = 0; i < mr; ++i) {
        acc[i][0] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i), b0, acc[i][0]);
      }
      a += mr;
      b += nr;
    }
  } else {
    for (int p = 0; p < kc; ++p) {
      const __m256 b0 = _mm256_load_ps(b);
      const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < mr; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += mr;
      b += nr;
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  const bool read_c = beta != 0.0f;
#pragma GCC unroll 6
  for (int i = 0; i < mr; ++i) {
    if (i < rows) {
      store_row(c + static_cast<std::ptrdiff_t>(i) * ldc, acc[i][0], acc[i][1], cols, va, vb,
                read_c);
    }
  }
}

DIGITCAM_AVX2 void dot_kernel_avx2(const float* const* a, const float* const* b, int kc,
                                   float* partial, bool first) {
  __m256 acc[dot_rows][dot_cols];
#pragma GCC unroll 8
  for (int r = 0; r < dot_rows; ++r) {
    for (int c = 0; c < dot_cols; ++c) {
      acc[r][c] =
          first ? _mm256_setzero_ps() : _mm256_loadu_ps(partial + (r * dot_cols + c) * dot_lanes);
    }
  }
  int p = 0;
  for (; p + dot_lanes <= kc; p += dot_lanes) {
    __m256 bv[dot_cols];
#pragma GCC unroll 4
    for (int c = 0; c < dot_cols; ++c) bv[c] = _mm256_loadu_ps(b[c] + p);
#pragma GCC unroll 2
    for (int r = 0; r < dot_rows; ++r) {
      const __m256 av = _mm256_loadu_ps(a[r] + p);
#pragma GCC unroll 4
      for (int c = 0; c < dot_cols; ++c) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
    }
  }
  if (p < kc) {
    // The tail: lanes past kc are neither read nor added.
    const __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(kc - p), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 bv[dot_cols];
#pragma GCC unroll 4
    for (int c = 0; c < dot_cols; ++c) bv[c] = _mm256_maskload_ps(b[c] + p, mask);
#pragma GCC unroll 2
    for (int r = 0; r < dot_rows; ++r) {
      const __m256 av = _mm256_maskload_ps(a[r] + p, mask);
#pragma GCC unroll 4
      for (int c = 0; c < dot_cols; ++c) acc[r][c] = _mm256_fmadd_ps(av, bv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < dot_rows; ++r) {
    for (int c = 0; c < dot_cols; ++c) {
      _mm256_storeu_ps(partial + (r * dot_cols + c) * dot_lanes, acc[r][c]);
    }
  }
}

// ---- Choosing the kernel -----------------------------------------------------------------

constexpr Kernels portable_kernels{micro_kernel_portable, pack_a_portable, pack_b_portable,
                                   dot_kernel_portable, "portable"};
constexpr Kernels avx2_kernels{micro_kernel_avx2, pack_a_avx2, pack_b_avx2, dot_kernel_avx2,
                               "avx2+fma"};

const Kernels& best_kernels() {
  static const Kernels& chosen = [&]() -> const Kernels& {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return avx2 ? avx2_kernels : portable_kernels;
  }();
  return chosen;
}

std::atomic<bool> force_portable{false};

const Kernels& active_kernels() {
  return force_portable.load(std::memory_order_relaxed) ? portable_kernels : best_kernels();
}

// ---- Packing buffers: one pair per thread, grown once, never shrunk -------------------------

class AlignedBuffer {
 public:
  float* reserve(std::size_t floats) {
    if (floats > capacity_) {
      const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(p);
      capacity_ = bytes / sizeof(float);
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
  std::size_t capacity_ = 0;
};

// Task bodies never wait on other tasks, so a thread finishes one task (and its use of these
// buffers) before it can start another.
struct PackBuffers {
  AlignedBuffer a;
  AlignedBuffer b;
  AlignedBuffer dot;  // lane sums of the dot path
};
thread_local PackBuffers pack_buffers;

// ---- Blocking and tasks --------------------------------------------------------------------

struct Problem {
  int m, n, k;
  float alpha, beta;
  Operand a, b;
  float* c;
  int ldc;
  const float* a_packed = nullptr;  // all of op(A) packed beforehand (see packed_offset)
  int packed_m = 0;                 // rows of that packed matrix; this product's rows are
  int packed_first_row = 0;         // [packed_first_row, packed_first_row + m) of them
};

// Length of every k-block but the last; depends on k alone, which fixes the summation order.
int k_block(int k) {
  return ceil_div(k, ceil_div(k, kc_max));
}

// Where a PackedMatrix keeps k-block [k0, k0+kc) of rows [i, ...): the k-blocks follow each
// other, each holding every mr-row panel of A in turn.
std::ptrdiff_t packed_offset(int m, int k0, int kc, int i) {
  return static_cast<std::ptrdiff_t>(k0) * round_up(m, mr) + static_cast<std::ptrdiff_t>(i) * kc;
}

struct Blocking {
  int kc = 0;  // every k-block but the last has this length; depends on k alone
  int mc = 0;  // rows per m-block, a multiple of mr
  int m_blocks = 1;
  int n_panels = 0;  // nr-wide column panels of C
  int n_chunks = 1;  // chunk t owns panels [t*n_panels/n_chunks, (t+1)*n_panels/n_chunks)

  int tasks() const { return m_blocks * n_chunks; }
};

Blocking plan(const Problem& pr, int threads) {
  Blocking bl;
  bl.kc = k_block(pr.k);
  const int mc_cap = std::max(
      mr, static_cast<int>(a_block_bytes / (sizeof(float) * static_cast<std::size_t>(bl.kc))) / mr *
              mr);
  bl.m_blocks = ceil_div(pr.m, mc_cap);
  bl.mc = round_up(ceil_div(pr.m, bl.m_blocks), mr);
  bl.n_panels = ceil_div(pr.n, nr);
  if (threads <= 1) return bl;

  // Split columns first: a column chunk repacks only A (usually the small weight matrix).
  const double work = static_cast<double>(pr.m) * pr.n * pr.k;
  const int wanted = work >= balance_work ? threads * tasks_per_thread : threads;
  bl.n_chunks =
      std::clamp(ceil_div(wanted, bl.m_blocks), 1, std::max(1, bl.n_panels / min_chunk_panels));
  if (bl.tasks() < threads) bl.n_chunks = std::min(bl.n_panels, ceil_div(threads, bl.m_blocks));
  if (bl.tasks() < threads) {
    // Too few columns: cut rows instead.
    bl.m_blocks = std::min(ceil_div(pr.m, mr), ceil_div(threads, bl.n_chunks));
    bl.mc = round_up(ceil_div(pr.m, bl.m_blocks), mr);
    bl.m_blocks = ceil_div(pr.m, bl.mc);
  }
  return bl;
}

void run_task(const Problem& pr, const Blocking& bl, const Kernels& kern, int task) {
  const int mb = task / bl.n_chunks, chunk = task % bl.n_chunks;
  const int i_begin = mb * bl.mc, i_end = std::min(pr.m, i_begin + bl.mc);
  const int j_begin = chunk * bl.n_panels / bl.n_chunks * nr;
  const int j_end = std::min(pr.n, (chunk + 1) * bl.n_panels / bl.n_chunks * nr);
  if (i_begin >= i_end || j_begin >= j_end) return;

  const int rows = i_end - i_begin;
  const int nc = std::max(
      nr, static_cast<int>(b_block_bytes / (sizeof(float) * static_cast<std::size_t>(bl.kc))) / nr *
              nr);
  float* a_pack = pr.a_packed != nullptr
                      ? nullptr
                      : pack_buffers.a.reserve(
                            static_cast<std::size_t>(round_up(rows, mr)) * bl.kc + pack_slack);
  float* b_pack = pack_buffers.b.reserve(static_cast<std::size_t>(nc) * bl.kc);

  for (int k0 = 0; k0 < pr.k; k0 += bl.kc) {
    const int kc = std::min(bl.kc, pr.k - k0);
    // Later k-blocks add onto what the earlier ones stored.
    const float beta = k0 == 0 ? pr.beta : 1.0f;
    const float* a_block = a_pack;
    if (pr.a_packed != nullptr) {
      a_block = pr.a_packed + packed_offset(pr.packed_m, k0, kc, pr.packed_first_row + i_begin);
    } else {
      kern.pack_a(pr.a, i_begin, rows, k0, kc, a_pack);
    }
    for (int j0 = j_begin; j0 < j_end; j0 += nc) {
      const int cols = std::min(nc, j_end - j0);
      kern.pack_b(pr.b, k0, kc, j0, cols, b_pack);
      for (int j = 0; j < cols; j += nr) {
        const float* b_panel = b_pack + static_cast<std::ptrdiff_t>(j) * kc;
        for (int i = 0; i < rows; i += mr) {
          kern.micro(kc, a_block + static_cast<std::ptrdiff_t>(i) * kc, b_panel,
                     pr.c + static_cast<std::ptrdiff_t>(i_begin + i) * pr.ldc + j0 + j, pr.ldc,
                     std::min(mr, rows - i), std::min(nr, cols - j), pr.alpha, beta);
        }
      }
    }
  }
}

// C = beta * C for the degenerate calls (k == 0 or alpha == 0), without reading C if beta == 0.
void scale_c(int m, int n, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + static_cast<std::ptrdiff_t>(i) * ldc;
    for (int j = 0; j < n; ++j) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
  }
}

bool use_dot_path(const Problem& pr) {
  return !pr.a.trans && pr.b.trans && std::min(pr.m, pr.n) < dot_max_side;
}

// Dot-path task: C rows [i_begin, i_end) x columns [j_begin, j_end). Tiles at the edges repeat
// the last row or column (clamped pointers) and drop those results.
void run_dot_task(const Problem& pr, const Kernels& kern, int i_begin, int i_end, int j_begin,
                  int j_end) {
  const int row_tiles = ceil_div(i_end - i_begin, dot_rows);
  const int col_tiles = ceil_div(j_end - j_begin, dot_cols);
  constexpr int tile_floats = dot_rows * dot_cols * dot_lanes;
  float* partial =
      pack_buffers.dot.reserve(static_cast<std::size_t>(row_tiles) * col_tiles * tile_floats);
  for (int k0 = 0; k0 < pr.k; k0 += dot_kc) {
    const int kc = std::min(dot_kc, pr.k - k0);
    for (int rt = 0; rt < row_tiles; ++rt) {
      const float* a_rows[dot_rows];
      for (int r = 0; r < dot_rows; ++r) {
        const int i = std::min(i_begin + rt * dot_rows + r, i_end - 1);
        a_rows[r] = pr.a.data + static_cast<std::ptrdiff_t>(i) * pr.a.ld + k0;
      }
      for (int ct = 0; ct < col_tiles; ++ct) {
        const float* b_rows[dot_cols];
        for (int c = 0; c < dot_cols; ++c) {
          const int j = std::min(j_begin + ct * dot_cols + c, j_end - 1);
          b_rows[c] = pr.b.data + static_cast<std::ptrdiff_t>(j) * pr.b.ld + k0;
        }
        kern.dot(a_rows, b_rows, kc,
                 partial + static_cast<std::ptrdiff_t>(rt * col_tiles + ct) * tile_floats, k0 == 0);
      }
    }
  }
  for (int i = i_begin; i < i_end; ++i) {
    const int rt = (i - i_begin) / dot_rows, r = (i - i_begin) % dot_rows;
    float* ci = pr.c + static_cast<std::ptrdiff_t>(i) * pr.ldc;
    for (int j = j_begin; j < j_end; ++j) {
      const int ct = (j - j_begin) / dot_cols, c = (j - j_begin) % dot_cols;
      const float* l = partial + static_cast<std::ptrdiff_t>(rt * col_tiles + ct) * tile_floats +
                       (r * dot_cols + c) * dot_lanes;
      const float sum = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
      ci[j] = pr.beta == 0.0f ? pr.alpha * sum : pr.alpha * sum + pr.beta * ci[j];
    }
  }
}

void run_dot_path(const Problem& pr, const Kernels& kern, int threads) {
  // Cut the longer side of C into whole tiles, one task per thread.
  const bool by_rows = pr.m >= pr.n;
  const int tile = by_rows ? dot_rows : dot_cols;
  const int tiles = ceil_div(by_rows ? pr.m : pr.n, tile);
  const int tasks = std::clamp(threads, 1, tiles);
  const auto run = [&](int t) {
    const int begin = t * tiles / tasks * tile;
    const int end = std::min(by_rows ? pr.m : pr.n, (t + 1) * tiles / tasks * tile);
    if (by_rows) {
      run_dot_task(pr, kern, begin, end, 0, pr.n);
    } else {
      run_dot_task(pr, kern, 0, pr.m, begin, end);
    }
  };
  if (tasks == 1) {
    run(0);
    return;
  }
  parallel_for(static_cast<std::size_t>(tasks), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) run(static_cast<int>(t));
  });
}

// threads: how many threads this call may use (1 runs on the caller alone).
void run(const Problem& pr, int threads) {
  if (pr.m <= 0 || pr.n <= 0) return;
  if (pr.k <= 0 || pr.alpha == 0.0f) {
    scale_c(pr.m, pr.n, pr.beta, pr.c, pr.ldc);
    return;
  }
  const Kernels& kern = active_kernels();
  if (static_cast<double>(pr.m) * pr.n * pr.k < serial_work) threads = 1;
  if (pr.a_packed == nullptr && use_dot_path(pr)) {
    run_dot_path(pr, kern, threads);
    return;
  }
  const Blocking bl = plan(pr, threads);
  if (bl.tasks() == 1) {
    run_task(pr, bl, kern, 0);
    return;
  }
  parallel_for(static_cast<std::size_t>(bl.tasks()), 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) run_task(pr, bl, kern, static_cast<int>(t));
  });
}

Problem problem(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  return {m,
          n,
          k,
          alpha,
          beta,
          {a, lda, trans_a == Transpose::yes},
          {b, ldb, trans_b == Transpose::yes},
          c,
          ldc};
}

}  // namespace

void gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  run(problem(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), available_threads());
}

void gemm_serial(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  run(problem(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), 1);
}

void PackedMatrix::pack(Transpose trans_a, int m, int k, const float* a, int lda) {
  m_ = std::max(m, 0);
  k_ = std::max(k, 0);
  const std::size_t floats = static_cast<std::size_t>(round_up(m_, mr)) * k_ + pack_slack;
  panels_.resize({1, 1, 1, static_cast<int>(floats)});
  if (m_ == 0 || k_ == 0) return;
  const Kernels& kern = active_kernels();
  const Operand op{a, lda, trans_a == Transpose::yes};
  const int kc_full = k_block(k_);
  for (int k0 = 0; k0 < k_; k0 += kc_full) {
    const int kc = std::min(kc_full, k_ - k0);
    kern.pack_a(op, 0, m_, k0, kc, panels_.data() + packed_offset(m_, k0, kc, 0));
  }
}

void gemm(const PackedMatrix& a, Transpose trans_b, int n, float alpha, const float* b, int ldb,
          float beta, float* c, int ldc, int threads) {
  gemm_rows(a, 0, a.rows(), trans_b, n, alpha, b, ldb, beta, c, ldc, threads);
}

void gemm_rows(const PackedMatrix& a, int first_row, int rows, Transpose trans_b, int n,
               float alpha, const float* b, int ldb, float beta, float* c, int ldc, int threads) {
  if (first_row % mr != 0 || first_row < 0 || rows < 0 || first_row + rows > a.rows()) {
    throw ShapeError("gemm_rows: rows [" + std::to_string(first_row) + ", " +
                     std::to_string(first_row + rows) + ") of a " + std::to_string(a.rows()) +
                     "-row matrix, or the first not a multiple of " + std::to_string(mr));
  }
  Problem pr =
      problem(Transpose::no, trans_b, rows, n, a.depth(), alpha, nullptr, 0, b, ldb, beta, c, ldc);
  pr.a_packed = a.data();
  pr.packed_m = a.rows();
  pr.packed_first_row = first_row;
  run(pr, std::max(threads, 1));
}

MicroTile gemm_micro_tile() {
  return {mr, nr};
}

void gemm_reference(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                    const float* a, int lda, const float* b, int ldb, float beta, float* c,
                    int ldc) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int p = 0; p < k; ++p) {
        const float av = trans_a == Transpose::yes ? a[p * lda + i] : a[i * lda + p];
        const float bv = trans_b == Transpose::yes ? b[j * ldb + p] : b[p * ldb + j];
        sum += static_cast<double>(av) * bv;
      }
      float& out = c[i * ldc + j];
      const double scaled = static_cast<double>(alpha) * sum;
      out = static_cast<float>(beta == 0.0f ? scaled : scaled + static_cast<double>(beta) * out);
    }
  }
}

const char* gemm_kernel_name() {
  return active_kernels().name;
}

void gemm_use_portable_kernel(bool portable) {
  force_portable.store(portable, std::memory_order_relaxed);
}

}  // namespace digitcam::engine
