#pragma once
// Single-precision matrix multiply, row-major:  C = alpha * op(A) * op(B) + beta * C,
// op(A) is M×K, op(B) is K×N, C is M×N. lda/ldb/ldc are row strides of the stored matrices.
// gemm() packs panels, runs a cache-blocked, vectorised micro-kernel (AVX2+FMA when the CPU has
// it, chosen once at run time) and splits output tiles across threads; every output element is
// summed in the same order whatever the thread count. beta == 0 means C is not read.
// gemm_reference() is the plain triple loop the tests compare against.

#include "digitcam/engine/tensor.hpp"

namespace digitcam::engine {

enum class Transpose : bool { no = false, yes = true };

void gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc);

// gemm() on the calling thread alone, for callers that already spread their work over threads
// (a layer running items of a batch in parallel). Bit for bit the same results as gemm().
void gemm_serial(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

// op(A) packed once for several products that share it (a layer's weights, used for every item
// of a batch). pack() copies what it needs: A may change afterwards (pack again when it does).
class PackedMatrix {
 public:
  void pack(Transpose trans_a, int m, int k, const float* a, int lda);
  int rows() const { return m_; }
  int depth() const { return k_; }
  const float* data() const { return panels_.data(); }  // layout private to gemm.cpp

 private:
  Tensor panels_;
  int m_ = 0;
  int k_ = 0;
};

// C = alpha * A op(B) + beta * C with A packed beforehand (m x k), on at most `threads` threads
// (1 keeps it on the calling thread). Bit for bit what gemm() gives for the unpacked A, except
// for the shapes where gemm() does not pack (A untransposed, B transposed, m or n below 16).
void gemm(const PackedMatrix& a, Transpose trans_b, int n, float alpha, const float* b, int ldb,
          float beta, float* c, int ldc, int threads);

// The same product for rows [first_row, first_row + rows) of A and of C only, c pointing at
// C's first of them: for callers that share a product's rows out among threads themselves.
// first_row must be a multiple of gemm_micro_tile().rows; bit for bit those rows of gemm()'s C.
void gemm_rows(const PackedMatrix& a, int first_row, int rows, Transpose trans_b, int n,
               float alpha, const float* b, int ldb, float beta, float* c, int ldc, int threads);

// The block of C the micro-kernel computes at a time: products are done in whole such tiles,
// so a caller cutting one into parts can count what each part costs.
struct MicroTile {
  int rows, columns;
};
MicroTile gemm_micro_tile();

void gemm_reference(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                    const float* a, int lda, const float* b, int ldb, float beta, float* c,
                    int ldc);

// The micro-kernel gemm() runs on this CPU: "avx2+fma" or "portable". For logs and benchmarks.
const char* gemm_kernel_name();

// Tests only: true makes gemm() use the portable kernel even where AVX2 is available, so both
// kernels can be checked on one machine; false goes back to the best one. Not thread-safe
// against concurrent gemm() calls.
void gemm_use_portable_kernel(bool portable);

}  // namespace digitcam::engine
