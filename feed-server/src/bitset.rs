//! A fixed-size set of symbol indices: which symbols a client wants, which are stale.

/// A set of indices below a fixed bound, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
    count: usize,
    bound: usize,
}

impl BitSet {
    pub fn new(bound: usize) -> Self {
        Self {
            words: vec![0; bound.div_ceil(64)],
            count: 0,
            bound,
        }
    }

    /// One past the largest index the set can hold.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Adds every index below the bound.
    pub fn insert_all(&mut self) {
        self.words.fill(u64::MAX);
        if let Some(last) = self.words.last_mut()
            && !self.bound.is_multiple_of(64)
        {
            *last = (1 << (self.bound % 64)) - 1;
        }
        self.count = self.bound;
    }

    /// Adds every member of `other` (of the same bound).
    pub fn union_with(&mut self, other: &Self) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
        self.recount();
    }

    /// Removes every member of `other` (of the same bound).
    pub fn subtract(&mut self, other: &Self) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w &= !o;
        }
        self.recount();
    }

    /// Keeps only the members also in `other` (of the same bound).
    pub fn intersect_with(&mut self, other: &Self) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w &= o;
        }
        self.recount();
    }

    fn recount(&mut self) {
        self.count = self.words.iter().map(|w| w.count_ones() as usize).sum();
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

    #[cfg(test)]
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
        s.insert_all();
        assert_eq!(
            (s.len(), s.contains(129), s.iter().last()),
            (130, true, Some(129))
        );
        let mut t = BitSet::new(130);
        t.insert(3);
        s.subtract(&t);
        assert_eq!((s.len(), s.contains(3)), (129, false));
        t.insert(7);
        let mut u = BitSet::new(130);
        u.union_with(&t);
        assert_eq!(u.iter().collect::<Vec<_>>(), [3, 7]);
    }
}
