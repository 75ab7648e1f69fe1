//! A fixed-size set of symbol indices: which symbols a client wants, which are stale.

/// A set of indices below a fixed bound, one bit each.
#[derive(Debug, Clone)]
pub struct BitSet {
    words: Vec<u64>,
    count: usize,
}

impl BitSet {
    pub fn new(bound: usize) -> Self {
        Self {
            words: vec![0; bound.div_ceil(64)],
            count: 0,
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Adds `i`; returns whether it was new.
    pub fn insert(&mut self, i: usize) -> bool {
        let Some(w) = self.words.get_mut(i / 64) else {
            return false;
        };
        let bit = 1 << (i % 64);
        let new = *w & bit == 0;
        *w |= bit;
        self.count += usize::from(new);
        new
    }

    pub fn remove(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            let bit = 1 << (i % 64);
            self.count -= usize::from(*w & bit != 0);
            *w &= !bit;
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn clear(&mut self) {
        self.words.fill(0);
        self.count = 0;
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_counts_members_and_iterates_them_in_order() {
        let mut s = BitSet::new(130);
        assert!(s.insert(129) && s.insert(0) && s.insert(64));
        assert!(!s.insert(64));
        assert!(!s.insert(500));
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 64, 129]);
        s.remove(64);
        s.remove(64);
        assert_eq!((s.len(), s.contains(64), s.contains(129)), (2, false, true));
        s.clear();
        assert!(s.is_empty());
    }
}
