#pragma once
// Single-precision matrix multiply, row-major:  C = alpha * op(A) * op(B) + beta * C,
// op(A) is M×K, op(B) is K×N, C is M×N. lda/ldb/ldc are row strides of the stored matrices.
// gemm() packs panels, runs a cache-blocked, vectorised micro-kernel (AVX2+FMA when the CPU has
// it, chosen once at run time) and splits output tiles across threads; every output element is
// summed in the same order whatever the thread count. beta == 0 means C is not read.
// gemm_reference() is the plain triple loop the tests compare against.

namespace digitcam::engine {

enum class Transpose : bool { no = false, yes = true };

void gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc);

void gemm_reference(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                    const float* a, int lda, const float* b, int ldb, float beta, float* c,
                    int ldc);

}  // namespace digitcam::engine
