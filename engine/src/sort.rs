//! Stable sorting through one shared instance of the standard library's sort.
//!
//! `slice::sort_by_key` is instantiated once per element type and key, several
//! kilobytes each in the WASI component. These helpers sort a list of indexes
//! instead (always the same instance) and then move the elements into place, with the
//! same result as the standard stable sorts.

use core::cmp::Ordering;

/// Sorts `v` stably by `cmp`, like `slice::sort_by`.
pub(crate) fn sort_by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    let order = order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    permute(v, order);
}

/// Sorts `v` stably by `key`, like `slice::sort_by_key`.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` stably by `key`, computing it once per element, like
/// `slice::sort_by_cached_key`.
pub(crate) fn sort_by_cached_key<T, K: Ord>(v: &mut [T], key: impl FnMut(&T) -> K) {
    let keys: Vec<K> = v.iter().map(key).collect();
    let order = order(v.len(), &|a, b| keys[a].cmp(&keys[b]));
    permute(v, order);
}

/// The indexes `0..n` sorted stably by `cmp`: position `i` of the sorted list holds
/// the element now at index `order[i]`.
fn order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Moves the element at `order[i]` to `i`, one cycle of the permutation at a time.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != usize::MAX {
            let from = order[at];
            order[at] = usize::MAX;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_stable_sorts() {
        let mut seed = 7u32;
        for len in 0..200 {
            let v: Vec<(u8, u32)> = (0..len)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    ((seed >> 24) as u8 % 9, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|p| p.0);
            let mut a = v.clone();
            sort_by_key(&mut a, |p| p.0);
            assert_eq!(a, want);
            let mut b = v.clone();
            sort_by_cached_key(&mut b, |p| p.0);
            assert_eq!(b, want);
            let mut c = v.clone();
            sort_by(&mut c, |x, y| y.0.cmp(&x.0));
            let mut want_c = v;
            want_c.sort_by_key(|x| core::cmp::Reverse(x.0));
            assert_eq!(c, want_c);
        }
    }
}
