//! The key/value cache for generation: per layer, the rotated keys and the values of every
//! position seen so far, `[B, H, S, K]`, so each new token costs one position of attention
//! instead of the whole sequence again.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// One layer's cached keys and values, `[B, H, S, K]` each (empty before the first call).
pub type LayerCache<B> = (Option<Tensor<B, 4>>, Option<Tensor<B, 4>>);

/// Keys and values per layer, and how many positions they hold.
#[derive(Debug, Default)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    len: usize,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache.
    pub fn new() -> Self {
        Self { layers: Vec::new(), len: 0 }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of a batch of one, repeated `n` times along the batch: `n` futures of one
    /// context share a single prefill.
    pub fn repeat(&self, n: usize) -> Self {
        let rep = |t: &Option<Tensor<B, 4>>| t.as_ref().map(|t| t.clone().repeat_dim(0, n));
        Self { layers: self.layers.iter().map(|(k, v)| (rep(k), rep(v))).collect(), len: self.len }
    }

    pub(crate) fn ensure_layers(&mut self, n: usize) {
        if self.layers.len() < n {
            self.layers.resize_with(n, || (None, None));
        }
    }

    pub(crate) fn layers_mut(&mut self) -> impl Iterator<Item = &mut LayerCache<B>> {
        self.layers.iter_mut()
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
