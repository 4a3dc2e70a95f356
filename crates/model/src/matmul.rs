//! Matrix products on host buffers, through the `gemm` crate — the kernels burn's CPU backend
//! multiplies with — for the fused operations that work on plain `f32` buffers (the training
//! attention of [`crate::attention_train`], the projections of [`crate::linear`]).
//!
//! This is the one module of the crate with `unsafe`: `gemm` takes raw pointers and strides.
//! [`matmul`] checks, before the call, that every element the product reads or writes lies inside
//! its slice, and Rust's borrows guarantee the destination aliases neither operand; that is
//! everything `gemm`'s contract asks for.

#![allow(unsafe_code)]

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
    #[should_panic(expected = "outside its buffer")]
    fn a_view_past_its_buffer_is_refused() {
        let x = vec![0.0f32; 10];
        let mut out = vec![0.0f32; 4];
        matmul(&mut out, 2, View::rows(&x, 2, 3, 5), View::rows(&x, 3, 2, 5), 1.0, false);
    }
}
