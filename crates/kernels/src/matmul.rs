//! Matrix products on host buffers, through the `gemm` crate — the kernels burn's CPU backend
//! multiplies with — for the fused operations that work on plain `f32` buffers (the training
//! attention of [`crate::attention_train`], the projections of [`crate::linear`]).
//!
//! This is the one module of the crate with `unsafe`: `gemm` takes raw pointers and strides.
//! [`matmul`] checks, before the call, that every element the product reads or writes lies inside
//! its slice, and Rust's borrows guarantee the destination aliases neither operand; that is
//! everything `gemm`'s contract asks for.

#![allow(unsafe_code)]

use rayon::prelude::*;

/// A strided matrix view into a slice: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// `rows × cols` row-major, rows `row_stride` apart, starting at `data[0]`.
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self { data, rows, cols, row_stride, col_stride: 1 }
    }

    /// Rows `from..to` of the view.
    pub(crate) fn slice_rows(self, from: usize, to: usize) -> Self {
        assert!(from <= to && to <= self.rows, "rows {from}..{to} of {}", self.rows);
        let start = (from * self.row_stride).min(self.data.len());
        Self { data: &self.data[start..], rows: to - from, ..self }
    }

    /// Columns `from..to` of the view.
    #[cfg(test)]
    pub(crate) fn slice_cols(self, from: usize, to: usize) -> Self {
        assert!(from <= to && to <= self.cols, "columns {from}..{to} of {}", self.cols);
        let start = (from * self.col_stride).min(self.data.len());
        Self { data: &self.data[start..], cols: to - from, ..self }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            data: self.data,
        }
    }

    /// Whether every element lies inside the slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1)
                .checked_mul(self.row_stride)
                .and_then(|a| (self.cols - 1).checked_mul(self.col_stride).and_then(|b| a.checked_add(b)))
                .is_some_and(|last| last < self.data.len())
    }
}

fn stride(x: usize) -> isize {
    isize::try_from(x).expect("a stride fits in isize")
}

/// `dst ← alpha · lhs · rhs`, or `dst ← dst + alpha · lhs · rhs` when `accumulate`; `dst` is
/// `lhs.rows × rhs.cols`, row-major with rows `dst_row_stride` apart. Single-threaded: callers
/// run many products in parallel. Panics if the shapes disagree or a view reaches outside its
/// slice (the caller's invariants, not input).
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    lhs: View<'_>,
    rhs: View<'_>,
    alpha: f32,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions");
    let out = View { data: dst, rows: m, cols: n, row_stride: dst_row_stride, col_stride: 1 };
    assert!(out.in_bounds() && lhs.in_bounds() && rhs.in_bounds(), "a matrix view reaches outside its buffer");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_row_stride..i * dst_row_stride + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: all three views were checked to lie inside their slices for the shapes passed
    // (m × n, m × k, k × n with these strides); `dst` is borrowed mutably, so it overlaps
    // neither operand; f32 is a type `gemm` supports. `gemm` computes
    // dst = alpha·dst + beta·lhs·rhs, reading dst only when `read_dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(dst_row_stride),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `lhs` (`n × k` row-major, `n = lhs.len() / k`) times `rhs` (`k × rhs.cols`) into a fresh
/// row-major buffer, `piece` rows of `lhs` per parallel product. The buffer is never zeroed
/// first: each piece's product writes every element of its rows. Panics on the caller's
/// invariants (`lhs.len()` a multiple of `k`, `rhs` of `k` rows, `piece > 0`).
pub(crate) fn product(lhs: &[f32], k: usize, rhs: View<'_>, piece: usize) -> Vec<f32> {
    assert!(k > 0 && piece > 0 && lhs.len().is_multiple_of(k), "lhs of {} values in rows of {k}", lhs.len());
    assert_eq!(rhs.rows, k, "inner dimensions");
    assert!(rhs.in_bounds(), "a matrix view reaches outside its buffer");
    let (n, o) = (lhs.len() / k, rhs.cols);
    let mut out: Vec<f32> = Vec::with_capacity(n * o);
    if o > 0 {
        out.spare_capacity_mut()[..n * o].par_chunks_mut(piece * o).zip(lhs.par_chunks(piece * k)).for_each(
            |(dst, lhs)| {
                let m = lhs.len() / k;
                debug_assert_eq!(dst.len(), m * o);
                // SAFETY: `dst` holds exactly m × o elements, row-major with rows `o` apart;
                // `lhs` is m × k row-major inside its slice; `rhs` was checked in bounds. `dst`
                // is borrowed mutably, so it overlaps neither operand. With `read_dst` false,
                // `gemm` writes every element of `dst` and reads none, so uninitialised memory
                // is never read.
                unsafe {
                    gemm::gemm(
                        m,
                        o,
                        k,
                        dst.as_mut_ptr().cast::<f32>(),
                        1,
                        stride(o),
                        false,
                        lhs.as_ptr(),
                        1,
                        stride(k),
                        rhs.data.as_ptr(),
                        stride(rhs.col_stride),
                        stride(rhs.row_stride),
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            },
        );
    }
    // SAFETY: the pieces cover all n rows (lhs.len() = n · k is split into pieces of whole
    // rows and zipped with pieces of whole output rows), and each piece's product wrote all
    // of its m × o elements; o = 0 leaves nothing to write.
    unsafe { out.set_len(n * o) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &View<'_>, b: &View<'_>) -> Vec<f32> {
        let at = |v: &View<'_>, i: usize, j: usize| v.data[i * v.row_stride + j * v.col_stride];
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|l| at(a, i, l) * at(b, l, j)).sum();
            }
        }
        out
    }

    #[test]
    fn strided_and_transposed_products_match_the_definition() {
        let x: Vec<f32> = (0..7 * 9).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let y: Vec<f32> = (0..9 * 6).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        // x as 7 × 9; y as 9 × 6; a 3-column slice of x and a transposed view of y.
        let a = View::rows(&x, 7, 9, 9);
        let b = View::rows(&y, 9, 6, 6);
        let mut out = vec![0.0; 7 * 6];
        matmul(&mut out, 6, a, b, 1.0, false);
        assert_eq!(out, naive(&a, &b));
        let a2 = a.slice_rows(2, 6).slice_cols(3, 9);
        let b2 = View::rows(&y, 9, 6, 6).t().slice_rows(1, 4).t().slice_rows(3, 9); // 6 × 3
        let mut out2 = vec![1.0; 4 * 5];
        matmul(&mut out2, 5, a2, b2, 0.5, true);
        let want: Vec<f32> = naive(&a2, &b2).iter().map(|x| 1.0 + 0.5 * x).collect();
        for (i, w) in want.chunks(3).enumerate() {
            assert_eq!(&out2[i * 5..i * 5 + 3], w);
        }
        assert!(out2[3..5].iter().all(|&x| x == 1.0), "columns past n untouched");
    }

    #[test]
    fn products_into_fresh_buffers_match_the_definition() {
        let x: Vec<f32> = (0..10 * 9).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let y: Vec<f32> = (0..6 * 9).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let a = View::rows(&x, 10, 9, 9);
        let b = View::rows(&y, 6, 9, 9).t(); // 9 × 6, transposed
        for piece in [1, 3, 4, 10, 64] {
            assert_eq!(product(&x, 9, b, piece), naive(&a, &b), "pieces of {piece} rows");
        }
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn a_view_past_its_buffer_is_refused() {
        let x = vec![0.0f32; 10];
        let mut out = vec![0.0f32; 4];
        matmul(&mut out, 2, View::rows(&x, 2, 3, 5), View::rows(&x, 3, 2, 5), 1.0, false);
    }
}
