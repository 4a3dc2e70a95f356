//! The log's Merkle tree, hashed as Certificate Transparency hashes it (RFC 6962 §2.1, kept by
//! RFC 9162 §2.1): a leaf is `SHA-256(0x00 ‖ entry)`, an interior node `SHA-256(0x01 ‖ left ‖
//! right)`, a tree of `n` leaves splits at the largest power of two below `n`, and the empty
//! tree's hash is `SHA-256("")`. Any other Certificate Transparency or `tlog` implementation
//! computes the same roots and checks the same proofs; the tests hold this one to the published
//! reference vectors.
//!
//! [`inclusion_proof`] shows that a record is in a tree of a given size; [`consistency_proof`]
//! that a smaller tree is a prefix of a larger one (nothing edited, removed, reordered or
//! inserted before the smaller tree's end). Both are checked by [`verify_inclusion`] and
//! [`verify_consistency`], which need only hashes: a partner verifies its own records, and that
//! the log it saw last week is a prefix of today's, without seeing anyone else's records.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf's, a node's or a tree's.
pub type Hash = [u8; 32];

/// The hash of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf holding `entry`: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n` ≥ 2): where a tree of `n` leaves splits.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree whose leaves hash to `leaves`, in order.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1), from the leaf's
/// sibling up; `None` when `index` is not a leaf of it.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    (index < leaves.len()).then(|| path(index, leaves))
}

fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut proof, other) = if m < k {
        (path(m, &leaves[..k]), root(&leaves[k..]))
    } else {
        (path(m - k, &leaves[k..]), root(&leaves[..k]))
    };
    proof.push(other);
    proof
}

/// The proof that the tree of the first `first` of `leaves` is a prefix of the tree of all of
/// them (RFC 6962 §2.1.2); `None` unless `0 < first ≤ leaves.len()`. Empty when they are the
/// same tree.
pub fn consistency_proof(leaves: &[Hash], first: usize) -> Option<Vec<Hash>> {
    (first > 0 && first <= leaves.len()).then(|| subproof(first, leaves, true))
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole { Vec::new() } else { vec![root(leaves)] };
    }
    let k = split(n);
    let (mut proof, other) = if m <= k {
        (subproof(m, &leaves[..k], whole), root(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
    };
    proof.push(other);
    proof
}

/// Whether `proof` shows the leaf hashing to `leaf` at `index` in the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows the tree of `first` leaves with root `first_root` to be a prefix of the
/// tree of `second` leaves with root `second_root` (RFC 9162 §2.1.4.2). Every tree extends the
/// empty tree; a tree is consistent with itself only through an empty proof.
pub fn verify_consistency(first: u64, second: u64, proof: &[Hash], first_root: &Hash, second_root: &Hash) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let Some((&head, rest)) = proof.split_first() else { return false };
    // A first tree of a power-of-two size is a whole subtree of the second: its root starts
    // the path, and the proof omits it.
    let (start, rest) = if first.is_power_of_two() { (*first_root, proof) } else { (head, rest) };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *first_root && sr == *second_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    fn h(s: &str) -> Hash {
        unhex(s).try_into().expect("32 bytes")
    }

    /// The Certificate Transparency reference tree (RFC 6962's test data, as published with
    /// transparency-dev/merkle and certificate-transparency-go): eight entries, and the root of
    /// every prefix of them.
    const ENTRIES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Hash> {
        ENTRIES.iter().map(|e| leaf_hash(&unhex(e))).collect()
    }

    #[test]
    fn roots_match_the_reference_tree_at_every_size() {
        let leaves = leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..n]), h(expected), "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_and_verify() {
        let leaves = leaves();
        let cases: [(usize, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (0, 1, &[]),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&leaves[..size], index).expect("a leaf of the tree");
            assert_eq!(proof, expected.iter().map(|p| h(p)).collect::<Vec<_>>(), "leaf {index} of {size}");
            assert!(verify_inclusion(index as u64, size as u64, &leaves[index], &proof, &h(ROOTS[size])));
        }
        assert!(inclusion_proof(&leaves, 8).is_none());
    }

    #[test]
    fn consistency_proofs_match_the_reference_and_verify() {
        let leaves = leaves();
        let cases: [(usize, usize, &[&str]); 4] = [
            (1, 1, &[]),
            (
                2,
                8,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (first, second, expected) in cases {
            let proof = consistency_proof(&leaves[..second], first).expect("a prefix");
            assert_eq!(proof, expected.iter().map(|p| h(p)).collect::<Vec<_>>(), "{first} → {second}");
            assert!(verify_consistency(first as u64, second as u64, &proof, &h(ROOTS[first]), &h(ROOTS[second])));
        }
    }

    /// Every leaf of every tree up to 40 leaves, and every prefix of each: the proofs verify, and
    /// a wrong index, leaf, root or any changed proof hash does not. (The tree size is not
    /// checked this way: a path can be read as a larger tree's whose last subtree hashes to the
    /// same value — which is why the size is signed in the checkpoint with the root.)
    #[test]
    fn every_proof_verifies_and_no_altered_one_does() {
        let all: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=all.len() {
            let tree = &all[..n];
            let top = root(tree);
            for i in 0..n {
                let proof = inclusion_proof(tree, i).expect("leaf");
                let (i64_, n64) = (i as u64, n as u64);
                assert!(verify_inclusion(i64_, n64, &tree[i], &proof, &top), "leaf {i} of {n}");
                assert!(!verify_inclusion(i64_ + 1, n64, &tree[i], &proof, &top) || tree.get(i + 1) == Some(&tree[i]));
                assert!(!verify_inclusion(i64_, n64, &leaf_hash(b"other"), &proof, &top));
                for j in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[j][0] ^= 1;
                    assert!(!verify_inclusion(i64_, n64, &tree[i], &bad, &top), "altered hash {j}");
                }
            }
            for m in 1..=n {
                let proof = consistency_proof(tree, m).expect("prefix");
                let (m64, n64, first) = (m as u64, n as u64, root(&tree[..m]));
                assert!(verify_consistency(m64, n64, &proof, &first, &top), "{m} → {n}");
                if m < n {
                    assert!(!verify_consistency(m64, n64, &proof, &leaf_hash(b"forked"), &top));
                    assert!(!verify_consistency(m64, n64, &proof, &first, &leaf_hash(b"forked")));
                    for j in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[j][31] ^= 0x80;
                        assert!(!verify_consistency(m64, n64, &bad, &first, &top), "{m} → {n}, hash {j}");
                    }
                }
            }
        }
    }
}
