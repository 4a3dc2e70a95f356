//! The key/value cache for generation: per layer, a [`kernels::kv::LayerCache`] of the rotated
//! keys and the values of every position seen so far, and how many positions they hold; the
//! leading padding of left-padded batches.

use burn::tensor::backend::Backend;
use kernels::kv::LayerCache;

/// Keys and values per layer, and how many positions they hold.
#[derive(Debug, Default)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    len: usize,
    reserve: usize,
    /// Leading padding positions per sequence, never attended to (empty: none).
    pads: Vec<usize>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache.
    pub fn new() -> Self {
        Self { layers: Vec::new(), len: 0, reserve: 0, pads: Vec::new() }
    }

    /// An empty cache that will hold up to `positions` positions per sequence: host buffers are
    /// sized for them at their first growth, instead of growing by doubling.
    pub fn with_reserve(positions: usize) -> Self {
        Self { layers: Vec::new(), len: 0, reserve: positions, pads: Vec::new() }
    }

    /// An empty cache for a batch of left-padded sequences: sequence `b`'s first `pads[b]`
    /// positions are padding that attention never reads, so contexts of different lengths,
    /// right-aligned, share one batch (rotary positions are relative: the shift changes
    /// nothing). Room for `positions` positions as in [`KvCache::with_reserve`].
    pub fn left_padded(pads: Vec<usize>, positions: usize) -> Self {
        Self { layers: Vec::new(), len: 0, reserve: positions, pads }
    }

    /// Leading padding positions per sequence (empty: none).
    pub fn pads(&self) -> &[usize] {
        &self.pads
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sequence `i` repeated `counts[i]` times, the copies next to each other: several contexts'
    /// futures generated in one batch, each context prefilled once.
    ///
    /// On the CPU the contexts' positions are not copied: the copies read them as a shared
    /// prefix.
    pub fn repeat_each(&self, counts: &[usize]) -> Self {
        let order: Vec<usize> = counts.iter().enumerate().flat_map(|(i, &n)| std::iter::repeat_n(i, n)).collect();
        let layers = self.layers.iter().map(|layer| layer.repeat_each(counts, self.reserve)).collect();
        let pads = if self.pads.is_empty() { Vec::new() } else { order.iter().map(|&i| self.pads[i]).collect() };
        Self { layers, len: self.len, reserve: self.reserve, pads }
    }

    /// The sequences `order` names, in that order (repeats allowed): the batch regrouped, or
    /// shrunk to the sequences still generating.
    pub fn select(&self, order: &[usize]) -> Self {
        let layers = self.layers.iter().map(|layer| layer.select(order, self.reserve)).collect();
        let pads = if self.pads.is_empty() { Vec::new() } else { order.iter().map(|&i| self.pads[i]).collect() };
        Self { layers, len: self.len, reserve: self.reserve, pads }
    }

    pub(crate) fn ensure_layers(&mut self, n: usize) {
        if self.layers.len() < n {
            self.layers.resize_with(n, || LayerCache::Empty);
        }
    }

    pub(crate) fn reserve(&self) -> usize {
        self.reserve
    }

    pub(crate) fn layers_mut(&mut self) -> impl Iterator<Item = &mut LayerCache<B>> {
        self.layers.iter_mut()
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
