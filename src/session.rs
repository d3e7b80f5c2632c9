//! Client-centric session guarantees (the course's third project): what a customer carries of
//! its own writes, and what a branch has applied of every customer's. Pure.
//!
//! A customer's writes are counted per branch that executed them: its [`Writes`] vector says
//! "my 2 writes at B1 and my 1 write at B3". Each write is named by where it was made and its
//! number there ([`WriteId`]: `C1's write 2 at B1`). A branch keeps the same vector for every
//! customer, counting the writes it has applied ([`Sessions`]):
//!
//! - **read-your-writes**: a branch serves a customer only once its vector for that customer
//!   covers the vector the customer carries (every write the customer made is applied there);
//! - **monotonic writes**: a propagated write carries its customer's vector at the time of the
//!   write, itself included; a branch applies it only once it has applied every write before it
//!   (the vector without the write itself). Writes of one origin reach a branch in the order
//!   they were executed there, so that customer's writes at that origin come in order too.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::model::{BranchId, CustomerId};

/// One write of a customer: the `number`-th (from 1) it made at branch `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId {
    /// Whose write it is.
    pub customer: CustomerId,
    /// The branch that executed it.
    pub origin: BranchId,
    /// Its number among the customer's writes at that branch, from 1.
    pub number: u64,
}

impl fmt::Display for WriteId {
    /// `C1's write 2 at B3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}'s write {} at {}",
            self.customer, self.number, self.origin
        )
    }
}

/// How many of one customer's writes each branch executed (a customer's own vector), or how
/// many of them a branch has applied (a branch's vector for that customer). Branches with no
/// write are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Writes(BTreeMap<BranchId, u64>);

impl Writes {
    /// No write at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The vector of these counts (a count of 0 is left out).
    pub fn from_counts(counts: impl IntoIterator<Item = (BranchId, u64)>) -> Self {
        Self(counts.into_iter().filter(|(_, count)| *count > 0).collect())
    }

    /// How many writes at `branch` this vector counts.
    pub fn at(&self, branch: BranchId) -> u64 {
        self.0.get(&branch).copied().unwrap_or(0)
    }

    /// Every branch with a write, ascending, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (BranchId, u64)> + '_ {
        self.0.iter().map(|(branch, count)| (*branch, *count))
    }

    /// Counts writes at `branch` up to `number` (never fewer than it counted).
    pub fn count_through(&mut self, branch: BranchId, number: u64) {
        if number > 0 {
            let count = self.0.entry(branch).or_default();
            *count = (*count).max(number);
        }
    }

    /// The first write (by branch, then number) that `needed` counts and this vector does not,
    /// if any: what a branch with this vector still waits for.
    pub fn first_missing(&self, customer: CustomerId, needed: &Writes) -> Option<WriteId> {
        needed.iter().find_map(|(origin, count)| {
            let have = self.at(origin);
            (have < count).then_some(WriteId {
                customer,
                origin,
                number: have + 1,
            })
        })
    }
}

impl fmt::Display for Writes {
    /// `{B1: 2, B3: 1}`, or `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self
            .iter()
            .map(|(branch, count)| format!("{branch}: {count}"))
            .collect();
        write!(f, "{{{}}}", entries.join(", "))
    }
}

/// What a branch has applied of each customer's writes.
#[derive(Debug, Clone, Default)]
pub struct Sessions(HashMap<CustomerId, Writes>);

impl Sessions {
    /// What this branch has applied of `customer`'s writes.
    pub fn applied(&self, customer: CustomerId) -> Option<&Writes> {
        self.0.get(&customer)
    }

    /// The first of the writes `needed` counts that this branch has not applied, if any.
    pub fn missing(&self, customer: CustomerId, needed: &Writes) -> Option<WriteId> {
        match self.0.get(&customer) {
            Some(applied) => applied.first_missing(customer, needed),
            None => Writes::new().first_missing(customer, needed),
        }
    }

    /// The first write that must be applied here before `write`, whose customer had made the
    /// writes `session` counts (`write` itself included), if one is missing.
    pub fn missing_before(&self, write: WriteId, session: &Writes) -> Option<WriteId> {
        let mut before = session.clone();
        before
            .0
            .insert(write.origin, write.number.saturating_sub(1));
        self.missing(write.customer, &before)
    }

    /// Notes that `write` was applied here.
    pub fn apply(&mut self, write: WriteId) {
        self.0
            .entry(write.customer)
            .or_default()
            .count_through(write.origin, write.number);
    }

    /// The number the next write of `customer` executed at `origin` gets.
    pub fn next_number(&self, customer: CustomerId, origin: BranchId) -> u64 {
        self.0
            .get(&customer)
            .map_or(0, |applied| applied.at(origin))
            .saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: CustomerId = CustomerId(1);
    const B1: BranchId = BranchId(1);
    const B2: BranchId = BranchId(2);

    fn write(origin: BranchId, number: u64) -> WriteId {
        WriteId {
            customer: C1,
            origin,
            number,
        }
    }

    #[test]
    fn a_branch_misses_the_first_write_it_has_not_applied() {
        let mut sessions = Sessions::default();
        let needed = Writes::from_counts([(B1, 2), (B2, 1)]);
        assert_eq!(sessions.missing(C1, &needed), Some(write(B1, 1)));
        sessions.apply(write(B1, 1));
        assert_eq!(sessions.missing(C1, &needed), Some(write(B1, 2)));
        sessions.apply(write(B1, 2));
        assert_eq!(sessions.missing(C1, &needed), Some(write(B2, 1)));
        sessions.apply(write(B2, 1));
        assert_eq!(sessions.missing(C1, &needed), None);
        assert_eq!(
            sessions.missing(CustomerId(2), &needed).map(|w| w.customer),
            Some(CustomerId(2))
        );
        assert_eq!(sessions.missing(C1, &Writes::new()), None);
    }

    #[test]
    fn a_write_waits_for_the_writes_before_it_only() {
        let mut sessions = Sessions::default();
        // C1 wrote once at B1, then once at B2: its second write carries {B1: 1, B2: 1}.
        let session = Writes::from_counts([(B1, 1), (B2, 1)]);
        assert_eq!(
            sessions.missing_before(write(B2, 1), &session),
            Some(write(B1, 1))
        );
        sessions.apply(write(B1, 1));
        assert_eq!(sessions.missing_before(write(B2, 1), &session), None);
        assert_eq!(sessions.next_number(C1, B2), 1);
        sessions.apply(write(B2, 1));
        assert_eq!(sessions.next_number(C1, B2), 2);
    }

    #[test]
    fn counts_never_go_back_and_zeros_are_left_out() {
        let mut writes = Writes::from_counts([(B1, 0), (B2, 3)]);
        assert_eq!(writes.to_string(), "{B2: 3}");
        writes.count_through(B2, 1);
        writes.count_through(B1, 2);
        assert_eq!(writes.to_string(), "{B1: 2, B2: 3}");
        assert_eq!(write(B2, 3).to_string(), "C1's write 3 at B2");
    }
}
