//! The in-flight table: one slot per operation from submission until its result is taken. It owns
//! the bookkeeping (who waits, which scope counts it, when it started), never the memory an
//! operation touches: that stays with the `Completion`, the scope's borrow, or the binding's table.
//!
//! An op's user data is `generation << 32 | slot index`, so a stale cancel or a late CQE can never
//! be mistaken for the op that reuses the slot. Generation 0 is never given out: user data 0 marks
//! the ring's own internal SQEs (cancels), whose CQEs belong to no slot.

use std::os::fd::OwnedFd;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

use crate::op::OpKind;

/// The user data of SQEs the ring issues for itself; their completions are ignored.
pub(crate) const INTERNAL_USER_DATA: u64 = 0;

/// Who hears about an op's completion.
pub(crate) enum Sink {
    /// A `Completion` will take the result (and may have left a waker to call).
    Completion { waker: Option<Waker> },
    /// An external poller: the result goes to the ready list under this tag.
    External { tag: u64 },
}

pub(crate) struct Slot {
    generation: u32,
    pub kind: OpKind,
    pub sink: Sink,
    pub result: Option<i32>,
    /// The scope whose end waits for this op.
    pub scope: Option<usize>,
    /// When it was submitted, if the ring records latencies.
    pub started: Option<Instant>,
    /// The op's own duplicate of a descriptor it was lent (see `RawOp::pin_descriptor`), closed
    /// when the op completes.
    pub pinned: Option<OwnedFd>,
}

#[derive(Default)]
pub(crate) struct InFlight {
    slots: Slab<Slot>,
    last_generation: u32,
    /// Slots whose result has not arrived.
    pending: usize,
}

fn index_of(user_data: u64) -> usize {
    (user_data & 0xffff_ffff) as usize
}

fn generation_of(user_data: u64) -> u32 {
    (user_data >> 32) as u32
}

impl InFlight {
    pub fn insert(&mut self, kind: OpKind, sink: Sink, scope: Option<usize>, started: Option<Instant>, pinned: Option<OwnedFd>) -> u64 {
        self.last_generation = self.last_generation.checked_add(1).unwrap_or(1);
        let generation = self.last_generation;
        let index = self.slots.insert(Slot { generation, kind, sink, result: None, scope, started, pinned });
        assert!(index < u32::MAX as usize, "more than 2^32 operations in flight");
        self.pending += 1;
        (u64::from(generation) << 32) | index as u64
    }

    pub fn get_mut(&mut self, user_data: u64) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(index_of(user_data))?;
        (slot.generation == generation_of(user_data)).then_some(slot)
    }

    /// Records an op's result; gives back its slot if this is the first result for it.
    pub fn complete(&mut self, user_data: u64, result: i32) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(index_of(user_data))?;
        if slot.generation != generation_of(user_data) || slot.result.is_some() {
            return None;
        }
        slot.result = Some(result);
        slot.pinned = None;
        self.pending -= 1;
        Some(slot)
    }

    /// Takes the slot out of the table. Only for slots whose result has arrived.
    pub fn remove(&mut self, user_data: u64) -> Slot {
        let slot = self.slots.remove(index_of(user_data));
        debug_assert!(slot.result.is_some(), "an op left the table before its result arrived");
        slot
    }

    /// Removes the slots of a finished scope whose completions were forgotten: nobody can take
    /// their results any more.
    pub fn forget_scope(&mut self, scope: usize) {
        self.slots.retain(|_, slot| slot.scope != Some(scope));
    }

    /// The user data of every op whose result has not arrived.
    pub fn pending_user_data(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, slot)| slot.result.is_none())
            .map(|(index, slot)| (u64::from(slot.generation) << 32) | index as u64)
            .collect()
    }

    /// How many ops have not completed.
    pub fn pending(&self) -> usize {
        self.pending
    }
}
