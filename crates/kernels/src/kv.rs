//! One layer's key/value cache for generation: the rotated keys and the values of every position
//! seen so far, so each new token costs one position of attention instead of the whole sequence
//! again. The model's `KvCache` holds one per layer.
//!
//! On the CPU backend the cache is a pair of plain buffers `[B, capacity, D]` that new positions
//! are written into in place (capacity grows geometrically), read directly by the fused attention
//! kernel ([`crate::attention`]); on other backends it holds tensors `[B, H, S, K]` that grow by
//! concatenation.
//!
//! When one prefill is continued by several futures ([`LayerCache::repeat_each`]), the CPU cache
//! does not copy it for each: the prefill becomes a [`SharedPrefix`] that every future of it
//! reads, and each future's own buffers hold only the positions it generated. Decoding reads the
//! whole cache at every step, so a prompt of a few hundred positions read once for its ten
//! futures instead of ten times is most of the memory traffic saved.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// One layer's cached keys and values.
#[derive(Debug, Default)]
pub enum LayerCache<B: Backend> {
    /// Nothing cached yet.
    #[default]
    Empty,
    /// Tensors `[B, H, S, K]` (any backend).
    Tensors {
        /// Rotated keys.
        keys: Tensor<B, 4>,
        /// Values.
        values: Tensor<B, 4>,
    },
    /// Host buffers for the CPU attention kernel.
    Host(HostKv),
}

/// Keys and values of `batch` sequences in host memory, `[batch, capacity, width]` each, of which
/// the first `len` rows of every sequence are filled — after the [`SharedPrefix`] it reads, if
/// any.
#[derive(Debug, Clone, PartialEq)]
pub struct HostKv {
    pub(crate) keys: Vec<f32>,
    pub(crate) values: Vec<f32>,
    pub(crate) batch: usize,
    pub(crate) capacity: usize,
    pub(crate) width: usize,
    pub(crate) len: usize,
    /// The positions before these, shared by groups of the sequences.
    pub(crate) prefix: Option<Arc<SharedPrefix>>,
    /// With a prefix: the group of it each sequence continues (a group's sequences next to each
    /// other).
    pub(crate) group_of: Vec<usize>,
}

/// Positions several sequences have in common, stored once: `groups` prefills of `len`
/// positions each, `[groups, len, width]`.
#[derive(Debug, PartialEq)]
pub struct SharedPrefix {
    pub(crate) keys: Vec<f32>,
    pub(crate) values: Vec<f32>,
    pub(crate) len: usize,
}

impl HostKv {
    fn new(batch: usize, width: usize) -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
            batch,
            capacity: 0,
            width,
            len: 0,
            prefix: None,
            group_of: Vec::new(),
        }
    }

    /// Positions in the shared prefix (0 without one).
    pub(crate) fn prefix_len(&self) -> usize {
        self.prefix.as_ref().map_or(0, |p| p.len)
    }

    /// Appends `rows` positions per sequence from `keys`/`values` `[batch, rows, width]`,
    /// growing the buffers to at least `reserve` positions in all (shared prefix included) when
    /// they must grow.
    pub(crate) fn append(&mut self, keys: &[f32], values: &[f32], rows: usize, reserve: usize) {
        let w = self.width;
        let reserve = reserve.saturating_sub(self.prefix_len());
        if self.len + rows > self.capacity {
            // To the reserve when it holds them (one allocation for a whole generation), else
            // doubling.
            let capacity =
                if reserve >= self.len + rows { reserve } else { (self.len + rows).max(self.capacity * 2).max(16) };
            let regrow = |old: &[f32]| {
                let mut new = vec![0.0f32; self.batch * capacity * w];
                for b in 0..self.batch {
                    new[b * capacity * w..][..self.len * w]
                        .copy_from_slice(&old[b * self.capacity * w..][..self.len * w]);
                }
                new
            };
            self.keys = regrow(&self.keys);
            self.values = regrow(&self.values);
            self.capacity = capacity;
        }
        for b in 0..self.batch {
            let to = (b * self.capacity + self.len) * w;
            self.keys[to..to + rows * w].copy_from_slice(&keys[b * rows * w..(b + 1) * rows * w]);
            self.values[to..to + rows * w].copy_from_slice(&values[b * rows * w..(b + 1) * rows * w]);
        }
        self.len += rows;
    }

    /// The sequences `order` names, in that order (repeats allowed), with room for `capacity`
    /// positions each in all (at least those held); a shared prefix stays shared.
    fn pick(&self, order: &[usize], capacity: usize) -> Self {
        let w = self.width;
        let capacity = capacity.saturating_sub(self.prefix_len()).max(self.len);
        let take = |buffer: &[f32]| {
            let mut out = vec![0.0f32; order.len() * capacity * w];
            for (to, &b) in order.iter().enumerate() {
                out[to * capacity * w..][..self.len * w]
                    .copy_from_slice(&buffer[b * self.capacity * w..][..self.len * w]);
            }
            out
        };
        Self {
            keys: take(&self.keys),
            values: take(&self.values),
            batch: order.len(),
            capacity,
            width: w,
            len: self.len,
            prefix: self.prefix.clone(),
            group_of: if self.prefix.is_some() {
                order.iter().map(|&b| self.group_of[b]).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Sequence `i` continued by `counts[i]` sequences that read its positions as a shared
    /// prefix (stored once, compacted to the positions held) and hold none of their own yet.
    /// With a prefix already shared, the sequences are copied instead ([`HostKv::pick`]).
    fn share(&self, counts: &[usize], capacity: usize) -> Self {
        let order: Vec<usize> = counts.iter().enumerate().flat_map(|(i, &n)| std::iter::repeat_n(i, n)).collect();
        if self.prefix.is_some() || counts.len() != self.batch {
            return self.pick(&order, capacity);
        }
        let (w, len) = (self.width, self.len);
        let compact = |buffer: &[f32]| {
            let mut out = Vec::with_capacity(self.batch * len * w);
            for b in 0..self.batch {
                out.extend_from_slice(&buffer[b * self.capacity * w..][..len * w]);
            }
            out
        };
        let prefix = SharedPrefix { keys: compact(&self.keys), values: compact(&self.values), len };
        Self {
            keys: Vec::new(),
            values: Vec::new(),
            batch: order.len(),
            capacity: 0,
            width: w,
            len: 0,
            prefix: Some(Arc::new(prefix)),
            group_of: order,
        }
    }
}

impl<B: Backend> LayerCache<B> {
    /// Sequence `i` repeated `counts[i]` times, the copies next to each other, with room for
    /// `reserve` positions: on the CPU the copies read the positions held as a shared prefix
    /// instead of copying them.
    pub fn repeat_each(&self, counts: &[usize], reserve: usize) -> Self {
        match self {
            LayerCache::Host(kv) => LayerCache::Host(kv.share(counts, reserve)),
            other => {
                let order: Vec<usize> =
                    counts.iter().enumerate().flat_map(|(i, &n)| std::iter::repeat_n(i, n)).collect();
                other.select(&order, reserve)
            }
        }
    }

    /// The sequences `order` names, in that order (repeats allowed); host buffers with room for
    /// `reserve` positions.
    pub fn select(&self, order: &[usize], reserve: usize) -> Self {
        match self {
            LayerCache::Empty => LayerCache::Empty,
            LayerCache::Tensors { keys, values } => {
                let device = keys.device();
                let index = Tensor::<B, 1, Int>::from_data(
                    TensorData::new(order.iter().map(|&i| i as i64).collect::<Vec<i64>>(), [order.len()]),
                    &device,
                );
                LayerCache::Tensors {
                    keys: keys.clone().select(0, index.clone()),
                    values: values.clone().select(0, index),
                }
            }
            LayerCache::Host(kv) => LayerCache::Host(kv.pick(order, reserve)),
        }
    }

    /// The host buffers, created empty for `batch` sequences of `width` on first use.
    pub(crate) fn host(&mut self, batch: usize, width: usize) -> &mut HostKv {
        if !matches!(self, LayerCache::Host(_)) {
            *self = LayerCache::Host(HostKv::new(batch, width));
        }
        match self {
            LayerCache::Host(kv) => kv,
            _ => unreachable!("set just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_buffers_grow_in_place_and_repeat_by_sequence() {
        let mut kv = HostKv::new(2, 3);
        // Sequence 0 rows are 0.x, sequence 1 rows 1.x.
        let rows = |first: usize, n: usize| -> Vec<f32> {
            (0..2).flat_map(|b| (first..first + n).flat_map(move |r| [b as f32 + r as f32 / 10.0; 3])).collect()
        };
        kv.append(&rows(0, 2), &rows(0, 2), 2, 0);
        kv.append(&rows(2, 20), &rows(2, 20), 20, 0);
        assert_eq!(kv.len, 22);
        assert!(kv.capacity >= 22);
        for b in 0..2 {
            for r in 0..22 {
                assert_eq!(kv.keys[(b * kv.capacity + r) * 3], b as f32 + r as f32 / 10.0);
            }
        }
        let picked = kv.pick(&[1, 1, 0], 30);
        assert_eq!((picked.batch, picked.capacity, picked.len), (3, 30, 22));
        for (b, from) in [1, 1, 0].into_iter().enumerate() {
            assert_eq!(picked.keys[(b * 30 + 5) * 3], from as f32 + 0.5);
        }
        // The whole batch three times over, as generation repeats one prefill for its futures.
        let three = kv.pick(&[0, 1, 0, 1, 0, 1], 22);
        assert_eq!((three.batch, three.capacity, three.len), (6, 22, 22));
        for b in 0..6 {
            assert_eq!(three.values[(b * 22 + 21) * 3 + 2], (b % 2) as f32 + 2.1);
        }
    }

    #[test]
    fn futures_share_their_prompts_positions_and_keep_their_own() {
        let mut kv = HostKv::new(2, 3);
        let rows = |first: usize, n: usize, batch: usize| -> Vec<f32> {
            (0..batch).flat_map(|b| (first..first + n).flat_map(move |r| [b as f32 + r as f32 / 10.0; 3])).collect()
        };
        kv.append(&rows(0, 5, 2), &rows(0, 5, 2), 5, 40);
        // Two futures of prompt 0, three of prompt 1: the prompts stored once, compacted.
        let mut shared = kv.share(&[2, 3], 40);
        let prefix = shared.prefix.clone().expect("a shared prefix");
        assert_eq!((prefix.len, prefix.keys.len(), shared.len, shared.batch), (5, 2 * 5 * 3, 0, 5));
        assert_eq!(shared.group_of, vec![0, 0, 1, 1, 1]);
        assert_eq!(prefix.keys[(5 + 4) * 3], 1.4, "prompt 1's last position");
        // Each future's own positions after the prompt, room for the rest of the reserve.
        shared.append(&rows(5, 1, 5), &rows(5, 1, 5), 1, 40);
        assert_eq!((shared.len, shared.capacity), (1, 35));
        // Dropping finished futures keeps the prefix shared (not copied) and the groups right.
        let kept = shared.pick(&[1, 4], 40);
        assert!(Arc::ptr_eq(kept.prefix.as_ref().expect("still shared"), &prefix));
        assert_eq!((kept.group_of.clone(), kept.len, kept.keys[0], kept.keys[35 * 3]), (vec![0, 1], 1, 1.5, 4.5));
    }
}
