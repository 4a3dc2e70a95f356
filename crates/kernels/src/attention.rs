//! Causal self-attention on the CPU, fused: scores, the causal mask, softmax and the weighted sum
//! of values in one pass over the keys each query may see, with an online softmax (the
//! FlashAttention recurrence) so no `T × T` score matrix is ever materialised.
//!
//! Why a kernel of our own: burn's CPU attention computes every query against every key and masks
//! afterwards (twice the work for a causal model), runs one `(batch, head)` pair after another on
//! one thread, evaluates `exp` one element at a time, and needs `[B, H, T, K]` inputs — the
//! projections come out as `[B, T, H·K]`, so each call paid three transposing copies and a fourth
//! for the output. Here queries, keys and values are read in the projection's own `[B, T, D]`
//! layout and the output is written in it; `(batch, block of query rows)` pieces run in parallel
//! on rayon; the inner loops are compiled for the best instruction set the processor has
//! (AVX-512, AVX2 or scalar, chosen at run time through `pulp`) with a vectorisable `exp`.
//!
//! Training on the CPU wraps attention as one differentiable operation
//! (`training_attention`), computed by matrix products over causal blocks: with whole
//! sequences and gradients to take, materialising each head's scores block by block and handing
//! the products to `gemm` is several times faster than these tiles.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Query rows per parallel piece.
const ROW_BLOCK: usize = 64;
/// Keys per tile of the online softmax.
const KEY_TILE: usize = 64;

/// The shapes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Sequences `B`.
    pub batch: usize,
    /// Query rows per sequence in this call.
    pub queries: usize,
    /// Key (and value) rows stored per sequence: the buffers are `[B, key_stride, D]`, of which
    /// the first `offset + queries` rows of each sequence are filled.
    pub key_stride: usize,
    /// Position of the first query row: query `i` sees keys `0..=offset + i`.
    pub offset: usize,
    /// Heads `H`.
    pub heads: usize,
    /// Head width `K`.
    pub head_dim: usize,
}

/// Whether [`causal`] handles this head width (the widths of every preset, and their halves
/// and doubles).
pub fn supports(head_dim: usize) -> bool {
    matches!(head_dim, 16 | 32 | 64 | 128)
}

/// Causal attention: `queries` `[B, Tq, D]`, `keys` and `values` `[B, key_stride, D]` (rotated
/// keys; `D = H·K`) → `[B, Tq, D]`, softmax scaled by `1/√K`. Panics if the head width is not
/// [`supports`]ed or the buffers are shorter than the shape says (both are the caller's
/// invariants, not input).
#[cfg(test)]
pub(crate) fn causal(queries: &[f32], keys: &[f32], values: &[f32], shape: Shape) -> Vec<f32> {
    attend(queries, keys, values, shape, &[]).0
}

/// [`causal`] for left-padded sequences: sequence `b` never sees its first `pads[b]` key rows
/// (padding that lets contexts of different lengths share a batch; rotary positions are
/// relative, so the shift changes nothing else). A query row with no key to see — a padding row
/// itself — gets zeros. `pads` empty: no padding.
pub fn causal_padded(queries: &[f32], keys: &[f32], values: &[f32], shape: Shape, pads: &[usize]) -> Vec<f32> {
    attend(queries, keys, values, shape, pads).0
}

/// [`causal`], and the log-sum-exp of each query row's scaled scores per head, `[B, Tq, H]` —
/// what the backward pass needs to rebuild the softmax without storing it.
#[cfg(test)]
pub(crate) fn causal_with_lse(queries: &[f32], keys: &[f32], values: &[f32], shape: Shape) -> (Vec<f32>, Vec<f32>) {
    attend(queries, keys, values, shape, &[])
}

/// Keys and values that groups of sequences share before their own: `[groups, len, D]` each;
/// sequence `b` reads group `group_of[b]` (a group's sequences next to each other).
pub struct Prefix<'a> {
    /// The groups' prefix keys, `[groups, len, D]`.
    pub keys: &'a [f32],
    /// The groups' prefix values, `[groups, len, D]`.
    pub values: &'a [f32],
    /// Prefix rows per group.
    pub len: usize,
    /// Each sequence's group.
    pub group_of: &'a [usize],
}

/// [`causal_padded`] where every sequence first reads a shared prefix (the futures of one prompt
/// continuing its prefill): query `i` of sequence `b` sees its group's prefix keys from
/// `pads[b]` on, then its own keys `0..=offset + i` (`keys`, `values` `[B, key_stride, D]`).
/// The prefix is read once per group and head for all of the group's query rows, four rows per
/// key load, which is what decoding many futures of few prompts is bound by.
pub fn causal_shared(
    queries: &[f32],
    prefix: Prefix<'_>,
    keys: &[f32],
    values: &[f32],
    shape: Shape,
    pads: &[usize],
) -> Vec<f32> {
    let d = shape.heads * shape.head_dim;
    assert_eq!(queries.len(), shape.batch * shape.queries * d, "query buffer");
    assert!(keys.len() >= shape.batch * shape.key_stride * d && values.len() == keys.len(), "key buffers");
    assert!(shape.offset + shape.queries <= shape.key_stride, "more rows than stored");
    assert!(pads.is_empty() || pads.len() == shape.batch, "one pad count per sequence");
    assert_eq!(prefix.group_of.len(), shape.batch, "one group per sequence");
    let groups = prefix.group_of.iter().map(|&g| g + 1).max().unwrap_or(0);
    assert!(prefix.keys.len() >= groups * prefix.len * d && prefix.values.len() == prefix.keys.len(), "prefix");
    let mut out = vec![0.0f32; queries.len()];
    if out.is_empty() {
        return out;
    }
    // Runs of consecutive sequences reading the same group, each one parallel piece.
    let rows_per_sequence = shape.queries * d;
    let mut pieces = Vec::new();
    let mut rest = out.as_mut_slice();
    let mut b0 = 0;
    for b in 1..=shape.batch {
        if b == shape.batch || prefix.group_of[b] != prefix.group_of[b0] {
            let (run, tail) = rest.split_at_mut((b - b0) * rows_per_sequence);
            pieces.push((b0, b, run));
            rest = tail;
            b0 = b;
        }
    }
    pieces.into_par_iter().for_each(|(b0, b1, out)| {
        let g = prefix.group_of[b0];
        let span = prefix.len * d;
        let piece = SharedPiece {
            q: &queries[b0 * rows_per_sequence..b1 * rows_per_sequence],
            prefix_keys: &prefix.keys[g * span..(g + 1) * span],
            prefix_values: &prefix.values[g * span..(g + 1) * span],
            prefix_start: pads.get(b0).copied().unwrap_or(0),
            keys: &keys[b0 * shape.key_stride * d..b1 * shape.key_stride * d],
            values: &values[b0 * shape.key_stride * d..b1 * shape.key_stride * d],
            out,
            shape,
        };
        match shape.head_dim {
            16 => Arch::new().dispatch(SharedKernel::<16>(piece)),
            32 => Arch::new().dispatch(SharedKernel::<32>(piece)),
            64 => Arch::new().dispatch(SharedKernel::<64>(piece)),
            128 => Arch::new().dispatch(SharedKernel::<128>(piece)),
            k => panic!("attention kernel called with unsupported head width {k}"),
        }
    });
    out
}

/// The sequences of one group: their queries, the group's prefix, their own keys and values.
struct SharedPiece<'a> {
    q: &'a [f32],
    prefix_keys: &'a [f32],
    prefix_values: &'a [f32],
    /// The first prefix row the group may see (its left padding).
    prefix_start: usize,
    keys: &'a [f32],
    values: &'a [f32],
    out: &'a mut [f32],
    shape: Shape,
}

/// [`causal_shared`] for head width `K`.
struct SharedKernel<'a, const K: usize>(SharedPiece<'a>);

impl<const K: usize> WithSimd for SharedKernel<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let SharedPiece { q, prefix_keys, prefix_values, prefix_start, keys, values, out, shape } = self.0;
        let d = shape.heads * K;
        let rows = q.len() / d;
        let plen = prefix_keys.len() / d;
        let scale = 1.0 / (K as f32).sqrt();
        let mut kt = vec![0.0f32; K * KEY_TILE];
        for h in 0..shape.heads {
            let col = h * K;
            let mut state: Vec<Row<K>> = (0..rows).map(|_| Row::new()).collect();
            // The prefix: every query row sees all of it, so one transposed tile serves them all.
            let mut start = prefix_start;
            while start < plen {
                let n = (plen - start).min(KEY_TILE);
                transpose_tile::<K>(prefix_keys, &mut kt, start, n, d, col);
                let mut r = 0;
                while r + 4 <= rows {
                    group::<K, 4>(q, &kt, prefix_values, &mut state[r..r + 4], (r, plen), (start, n), (d, col, scale));
                    r += 4;
                }
                while r < rows {
                    group::<K, 1>(q, &kt, prefix_values, &mut state[r..r + 1], (r, plen), (start, n), (d, col, scale));
                    r += 1;
                }
                start += n;
            }
            // Each row's own keys, causal within the sequence.
            for (r, row) in state.iter_mut().enumerate() {
                let (b, i) = (r / shape.queries, r % shape.queries);
                let (own_k, own_v) = (&keys[b * shape.key_stride * d..], &values[b * shape.key_stride * d..]);
                row.see_keys(&q[r * d + col..r * d + col + K], (own_k, own_v), 0..shape.offset + i + 1, (d, col));
                let mut lse = 0.0;
                row.write(&mut out[r * d + col..r * d + col + K], &mut lse);
            }
        }
    }
}

/// Keys `start..start + n` of head column `col` transposed into `kt` (`[K, KEY_TILE]`).
#[inline(always)]
fn transpose_tile<const K: usize>(k: &[f32], kt: &mut [f32], start: usize, n: usize, d: usize, col: usize) {
    for j in 0..n {
        let at = (start + j) * d + col;
        for (c, x) in k[at..at + K].iter().enumerate() {
            kt[c * KEY_TILE + j] = *x;
        }
    }
}

/// The kernel behind [`causal_with_lse`] and [`causal_padded`].
fn attend(queries: &[f32], keys: &[f32], values: &[f32], shape: Shape, pads: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let d = shape.heads * shape.head_dim;
    assert_eq!(queries.len(), shape.batch * shape.queries * d, "query buffer");
    assert!(keys.len() >= shape.batch * shape.key_stride * d && values.len() == keys.len(), "key buffers");
    assert!(shape.offset + shape.queries <= shape.key_stride, "more rows than stored");
    assert!(pads.is_empty() || pads.len() == shape.batch, "one pad count per sequence");
    let mut out = vec![0.0f32; queries.len()];
    let mut lse = vec![0.0f32; shape.batch * shape.queries * shape.heads];
    if out.is_empty() {
        return (out, lse);
    }
    let h = shape.heads;
    out.par_chunks_mut(shape.queries * d).zip(lse.par_chunks_mut(shape.queries * h)).enumerate().for_each(
        |(b, (out_b, lse_b))| {
            let q_b = &queries[b * shape.queries * d..(b + 1) * shape.queries * d];
            let k_b = &keys[b * shape.key_stride * d..(b + 1) * shape.key_stride * d];
            let v_b = &values[b * shape.key_stride * d..(b + 1) * shape.key_stride * d];
            out_b.par_chunks_mut(ROW_BLOCK * d).zip(lse_b.par_chunks_mut(ROW_BLOCK * h)).enumerate().for_each(
                |(block, (out_rows, lse_rows))| {
                    let first = block * ROW_BLOCK;
                    let rows = out_rows.len() / d;
                    let piece = Piece {
                        q: &q_b[first * d..(first + rows) * d],
                        k: k_b,
                        v: v_b,
                        out: out_rows,
                        lse: lse_rows,
                        first,
                        key_start: pads.get(b).copied().unwrap_or(0),
                        shape,
                    };
                    match shape.head_dim {
                        16 => Arch::new().dispatch(Kernel::<16>(piece)),
                        32 => Arch::new().dispatch(Kernel::<32>(piece)),
                        64 => Arch::new().dispatch(Kernel::<64>(piece)),
                        128 => Arch::new().dispatch(Kernel::<128>(piece)),
                        k => panic!("attention kernel called with unsupported head width {k}"),
                    }
                },
            );
        },
    );
    (out, lse)
}

/// A block of query rows of one sequence, all heads.
struct Piece<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    out: &'a mut [f32],
    /// Log-sum-exp per row and head, `[rows, H]`.
    lse: &'a mut [f32],
    /// Index of the block's first row among the call's query rows.
    first: usize,
    /// The first key row this sequence may see (its left padding).
    key_start: usize,
    shape: Shape,
}

/// The kernel for head width `K`, run under the instruction set `pulp` picked.
struct Kernel<'a, const K: usize>(Piece<'a>);

impl<const K: usize> WithSimd for Kernel<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Piece { q, k, v, out, lse, first, key_start, shape } = self.0;
        let rows = q.len() / (shape.heads * K);
        for h in 0..shape.heads {
            if rows >= 4 {
                block_of_rows::<K>(q, k, v, (&mut *out, &mut *lse), (first, key_start), shape, h);
            } else {
                for r in 0..rows {
                    one_row::<K>(q, k, v, (&mut *out, &mut *lse), (first, key_start), shape, h, r);
                }
            }
        }
    }
}

/// The running state of one query row's online softmax.
struct Row<const K: usize> {
    acc: [f32; K],
    max: f32,
    sum: f32,
}

impl<const K: usize> Row<K> {
    fn new() -> Self {
        Self { acc: [0.0; K], max: f32::NEG_INFINITY, sum: 0.0 }
    }

    /// Folds in `scores` (exponentiated in place) of the keys whose values start at `v[at]`,
    /// `stride` apart.
    #[inline(always)]
    fn absorb(&mut self, scores: &mut [f32], v: &[f32], at: usize, stride: usize) {
        self.softmax_step(scores);
        // A local copy, so the accumulator can live in registers across the keys.
        let mut acc = self.acc;
        for (j, &p) in scores.iter().enumerate() {
            let row = at + j * stride;
            for (a, x) in acc.iter_mut().zip(&v[row..row + K]) {
                *a = p.mul_add(*x, *a);
            }
        }
        self.acc = acc;
    }

    /// The online-softmax bookkeeping for a new tile of `scores`: exponentiates them in place
    /// (relative to the new running maximum), rescales the accumulator and the running sum.
    #[inline(always)]
    fn softmax_step(&mut self, scores: &mut [f32]) {
        let new_max = self.max.max(max(scores));
        let correction = exp(self.max - new_max);
        for s in scores.iter_mut() {
            *s = exp(*s - new_max);
        }
        let tile_sum = sum(scores);
        for a in self.acc.iter_mut() {
            *a *= correction;
        }
        self.sum = self.sum * correction + tile_sum;
        self.max = new_max;
    }

    /// Folds in the keys `keys` (rows of `k`/`v`, `d` apart, this head's columns from `col`) for
    /// the unscaled query `q`, a tile of scores by dot products at a time.
    #[inline(always)]
    fn see_keys(
        &mut self,
        q: &[f32],
        (k, v): (&[f32], &[f32]),
        keys: std::ops::Range<usize>,
        (d, col): (usize, usize),
    ) {
        let scale = 1.0 / (K as f32).sqrt();
        let mut qr = [0.0f32; K];
        for (x, y) in qr.iter_mut().zip(q) {
            *x = y * scale;
        }
        let mut scores = [0.0f32; KEY_TILE];
        let mut start = keys.start;
        while start < keys.end {
            let n = (keys.end - start).min(KEY_TILE);
            for (j, s) in scores[..n].iter_mut().enumerate() {
                let at = (start + j) * d + col;
                *s = dot::<K>(&qr, &k[at..at + K]);
            }
            self.absorb(&mut scores[..n], v, start * d + col, d);
            start += n;
        }
    }

    #[inline(always)]
    fn write(&self, out: &mut [f32], lse: &mut f32) {
        if self.sum == 0.0 {
            // No key seen (a padding row): nothing to attend to.
            out.fill(0.0);
            *lse = f32::NEG_INFINITY;
            return;
        }
        let inv = 1.0 / self.sum;
        for (o, a) in out.iter_mut().zip(&self.acc) {
            *o = a * inv;
        }
        *lse = self.max + self.sum.ln();
    }
}

/// Head `h` for every row of the piece (at least 4): each key tile is transposed once into a
/// `[K, KEY_TILE]` scratch, so a row's scores for the whole tile are `K` broadcast
/// multiply-adds over contiguous lanes — no horizontal sums — and the tile serves all rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_of_rows<const K: usize>(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (out, lse): (&mut [f32], &mut [f32]),
    (first, key_start): (usize, usize),
    shape: Shape,
    h: usize,
) {
    let d = shape.heads * K;
    let col = h * K;
    let rows = q.len() / d;
    let scale = 1.0 / (K as f32).sqrt();
    let mut state: Vec<Row<K>> = (0..rows).map(|_| Row::new()).collect();
    let mut kt = vec![0.0f32; K * KEY_TILE];
    // The last row sees the most keys.
    let keys = shape.offset + first + rows;
    let mut start = key_start;
    while start < keys {
        let n = (keys - start).min(KEY_TILE);
        transpose_tile::<K>(k, &mut kt, start, n, d, col);
        // Rows four at a time: each transposed key (and value) load feeds four rows, and their
        // multiply-adds are independent chains the processor can overlap.
        let last0 = shape.offset + first;
        let mut g = 0;
        while g + 4 <= rows {
            group::<K, 4>(q, &kt, v, &mut state[g..g + 4], (g, last0 + g), (start, n), (d, col, scale));
            g += 4;
        }
        while g < rows {
            group::<K, 1>(q, &kt, v, &mut state[g..g + 1], (g, last0 + g), (start, n), (d, col, scale));
            g += 1;
        }
        start += n;
    }
    for (r, row) in state.iter().enumerate() {
        row.write(&mut out[r * d + col..r * d + col + K], &mut lse[r * shape.heads + h]);
    }
}

/// `R` consecutive rows of a block against one key tile (`kt`, transposed: `[K, KEY_TILE]`, the
/// tile's first key at `start`, `n` keys in it): scores, the online-softmax step, and the
/// weighted values, each key's row of values loaded once for all `R` rows. `row` is the first
/// row's index in the piece and `last` the last key it may see; row `r` sees one more.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn group<const K: usize, const R: usize>(
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    state: &mut [Row<K>],
    (row, last): (usize, usize),
    (start, n): (usize, usize),
    (d, col, scale): (usize, usize, f32),
) {
    // Keys this tile gives each row (0: the row ends before the tile); the last row sees most.
    let seen: [usize; R] = std::array::from_fn(|r| (last + r + 1).saturating_sub(start).min(n));
    if seen[R - 1] == 0 {
        return;
    }
    let mut scores = [[0.0f32; KEY_TILE]; R];
    let queries: [[f32; K]; R] = std::array::from_fn(|r| {
        let at = (row + r) * d + col;
        std::array::from_fn(|c| q[at + c] * scale)
    });
    for c in 0..K {
        let kc = &kt[c * KEY_TILE..(c + 1) * KEY_TILE];
        for r in 0..R {
            let x = queries[r][c];
            for j in 0..KEY_TILE {
                scores[r][j] = x.mul_add(kc[j], scores[r][j]);
            }
        }
    }
    for r in 0..R {
        if seen[r] > 0 {
            state[r].softmax_step(&mut scores[r][..seen[r]]);
        }
        // Zero weights past a row's last key, so every row can run over the same keys.
        scores[r][seen[r]..].fill(0.0);
    }
    let mut acc: [[f32; K]; R] = std::array::from_fn(|r| state[r].acc);
    for j in 0..seen[R - 1] {
        let at = (start + j) * d + col;
        let vj = &v[at..at + K];
        for r in 0..R {
            let p = scores[r][j];
            for c in 0..K {
                acc[r][c] = p.mul_add(vj[c], acc[r][c]);
            }
        }
    }
    for r in 0..R {
        state[r].acc = acc[r];
    }
}

/// Head `h` for row `r` alone (generation's single new position): scores by dot products, no
/// transposition to amortise.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn one_row<const K: usize>(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (out, lse): (&mut [f32], &mut [f32]),
    (first, key_start): (usize, usize),
    shape: Shape,
    h: usize,
    r: usize,
) {
    let d = shape.heads * K;
    let col = h * K;
    let mut row = Row::<K>::new();
    row.see_keys(&q[r * d + col..r * d + col + K], (k, v), key_start..shape.offset + first + r + 1, (d, col));
    row.write(&mut out[r * d + col..r * d + col + K], &mut lse[r * shape.heads + h]);
}

/// `a · b` for width `K`, summed in 16 lanes so the compiler can keep them in vector registers
/// (a single running sum would force one addition after another).
#[inline(always)]
fn dot<const K: usize>(a: &[f32; K], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            lanes[i] = ca[i].mul_add(cb[i], lanes[i]);
        }
    }
    lanes.iter().sum()
}

/// The largest of `xs` (−∞ for none), in 16 lanes so it vectorises.
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    lanes.iter().fold(tail, |m, &x| m.max(x))
}

/// The sum of `xs`, in 16 lanes so it vectorises.
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            lanes[i] += c[i];
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `eˣ` for `x ≤ 0` (scores less their running maximum), relative error below 4e-7: `x` is
/// split as `n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 Taylor polynomial gives `eʳ`, and
/// `2ⁿ` is built from its exponent bits. Written without branches or library calls so loops over it vectorise.
/// Arguments below -87 give e⁻⁸⁷ ≈ 1.6e-38 (so `e^-∞`, the first tile's correction, is that
/// rather than 0: it only ever multiplies sums that are still 0).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Below this e^x is under f32's smallest normal; clamp so 2^n stays representable.
    let x = x.max(-87.0);
    // Round to nearest through the 1.5·2²³ trick (no library call, vectorises).
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The textbook computation, one query at a time, in f64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], s: Shape) -> Vec<f32> {
        let d = s.heads * s.head_dim;
        let mut out = vec![0.0f32; q.len()];
        for b in 0..s.batch {
            for i in 0..s.queries {
                for h in 0..s.heads {
                    let qrow = &q[(b * s.queries + i) * d + h * s.head_dim..][..s.head_dim];
                    let visible = s.offset + i + 1;
                    let scores: Vec<f64> = (0..visible)
                        .map(|j| {
                            let krow = &k[(b * s.key_stride + j) * d + h * s.head_dim..][..s.head_dim];
                            qrow.iter().zip(krow).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>()
                                / (s.head_dim as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for c in 0..s.head_dim {
                        let value: f64 = (0..visible)
                            .map(|j| weights[j] * f64::from(v[(b * s.key_stride + j) * d + h * s.head_dim + c]))
                            .sum();
                        out[(b * s.queries + i) * d + h * s.head_dim + c] = (value / total) as f32;
                    }
                }
            }
        }
        out
    }

    /// Deterministic values in [−2, 2) for kernel tests.
    pub(crate) fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    fn check(shape: Shape) {
        let d = shape.heads * shape.head_dim;
        let q = noise(shape.batch * shape.queries * d, 1);
        let k = noise(shape.batch * shape.key_stride * d, 2);
        let v = noise(shape.batch * shape.key_stride * d, 3);
        let got = causal(&q, &k, &v, shape);
        let want = reference(&q, &k, &v, shape);
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{shape:?}: max abs difference {worst}");
    }

    #[test]
    fn matches_the_textbook_formula_for_a_whole_sequence() {
        // 150 rows: several key tiles and row blocks, and a ragged last block.
        check(Shape { batch: 2, queries: 150, key_stride: 150, offset: 0, heads: 3, head_dim: 32 });
        check(Shape { batch: 1, queries: 70, key_stride: 70, offset: 0, heads: 2, head_dim: 64 });
    }

    #[test]
    fn matches_the_textbook_formula_after_a_cache() {
        // One new row per sequence after 99 cached ones, with spare capacity in the buffers.
        check(Shape { batch: 5, queries: 1, key_stride: 128, offset: 99, heads: 4, head_dim: 16 });
        // Several new rows after a cache.
        check(Shape { batch: 2, queries: 20, key_stride: 90, offset: 65, heads: 2, head_dim: 128 });
    }

    /// Sequences left-padded by `pads` inside one batch attend exactly as each does alone.
    fn check_padded(queries: usize, key_stride: usize, offset: usize, pads: [usize; 2]) {
        let (heads, head_dim) = (2, 32);
        let d = heads * head_dim;
        let shape = Shape { batch: 2, queries, key_stride, offset, heads, head_dim };
        let q = noise(2 * queries * d, 4);
        let k = noise(2 * key_stride * d, 5);
        let v = noise(2 * key_stride * d, 6);
        let got = causal_padded(&q, &k, &v, shape, &pads);
        for (b, &pad) in pads.iter().enumerate() {
            // Sequence b alone: its key rows after the padding, its query rows shifted alike.
            let keys = offset + queries - pad;
            let own_queries = queries.min(keys);
            let first_query = queries - own_queries;
            let alone =
                Shape { batch: 1, queries: own_queries, key_stride: keys, offset: keys - own_queries, heads, head_dim };
            let ks = &k[(b * key_stride + pad) * d..(b * key_stride + pad + keys) * d];
            let vs = &v[(b * key_stride + pad) * d..(b * key_stride + pad + keys) * d];
            let qs = &q[(b * queries + first_query) * d..(b + 1) * queries * d];
            let want = reference(qs, ks, vs, alone);
            let rows = &got[(b * queries + first_query) * d..(b + 1) * queries * d];
            let worst = rows.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "sequence {b} (pad {pad}): max abs difference {worst}");
            let padding = &got[b * queries * d..(b * queries + first_query) * d];
            assert!(padding.iter().all(|&x| x == 0.0), "padding rows attend to nothing");
        }
    }

    #[test]
    fn left_padding_is_never_attended_to() {
        // A prefill of two contexts, 100 and 31 real rows, right-aligned in 100.
        check_padded(100, 100, 0, [0, 69]);
        // One new row each after a padded cache.
        check_padded(1, 128, 100, [3, 69]);
    }

    /// Sequences reading a shared prefix attend exactly as each does over its own copy of it:
    /// five sequences continuing two left-padded prompts, one new row and several.
    #[test]
    fn a_shared_prefix_is_read_as_each_sequences_own_copy() {
        let (heads, head_dim, plen) = (2, 64, 150);
        let d = heads * head_dim;
        let group_of = [0usize, 0, 0, 1, 1];
        let pads = [0usize, 0, 0, 37, 37];
        let prefix_keys = noise(2 * plen * d, 7);
        let prefix_values = noise(2 * plen * d, 8);
        for (queries, offset, key_stride) in [(1, 0, 16), (1, 11, 16), (3, 5, 12)] {
            let batch = group_of.len();
            let shape = Shape { batch, queries, key_stride, offset, heads, head_dim };
            let q = noise(batch * queries * d, 9);
            let k = noise(batch * key_stride * d, 10);
            let v = noise(batch * key_stride * d, 11);
            let prefix = Prefix { keys: &prefix_keys, values: &prefix_values, len: plen, group_of: &group_of };
            let got = causal_shared(&q, prefix, &k, &v, shape, &pads);
            // The same sequences with the prefix copied in front of their own rows.
            let stride = plen + key_stride;
            let copy = |shared: &[f32], own: &[f32]| {
                let mut out = vec![0.0f32; batch * stride * d];
                for (b, &g) in group_of.iter().enumerate() {
                    out[b * stride * d..][..plen * d].copy_from_slice(&shared[g * plen * d..][..plen * d]);
                    out[(b * stride + plen) * d..][..key_stride * d]
                        .copy_from_slice(&own[b * key_stride * d..][..key_stride * d]);
                }
                out
            };
            let whole = Shape { key_stride: stride, offset: plen + offset, ..shape };
            let want = causal_padded(&q, &copy(&prefix_keys, &k), &copy(&prefix_values, &v), whole, &pads);
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{queries} rows at {offset}: max abs difference {worst}");
        }
    }

    #[test]
    fn exp_is_accurate_where_softmax_uses_it() {
        for i in 0..=16_000 {
            let x = -(i as f32) * 0.005; // 0 down to -80
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            assert!((got - want).abs() <= 4e-7 * want + 1e-38, "exp({x}) = {got}, want {want}");
        }
        for x in [-90.0, -1e4, f32::NEG_INFINITY] {
            assert!(exp(x) < 2e-38 && exp(x) >= 0.0, "exp({x}) = {}", exp(x));
        }
    }
}
