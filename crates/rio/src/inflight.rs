//! The in-flight table: one slot per operation from submission until its completion is taken.
//! It owns the bookkeeping (who waits, which scope to tell, when it started), never the memory an
//! operation touches: that stays with the `Completion`, the scope, or the binding's own table.
//!
//! An op's user data is `generation << 32 | slot index`, so a stale cancel or a late CQE can never
//! be mistaken for the op that reuses the slot.

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

use crate::op::OpKind;
use crate::scope::ScopeState;

/// Who hears about an op's completion.
pub(crate) enum Sink {
    /// A `Completion` will take the result (and may have left a waker to call).
    Completion { waker: Option<Waker> },
    /// An external poller: the result goes to the ready list under this tag.
    External { tag: u64 },
}

pub(crate) struct Slot {
    pub generation: u32,
    pub kind: OpKind,
    pub sink: Sink,
    pub result: Option<i32>,
    pub scope: Option<Arc<ScopeState>>,
    pub started: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct InFlight {
    slots: Slab<Slot>,
    next_generation: u32,
}

impl InFlight {
    pub fn insert(&mut self, kind: OpKind, sink: Sink, scope: Option<Arc<ScopeState>>, started: Option<Instant>) -> u64 {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let index = self.slots.insert(Slot { generation, kind, sink, result: None, scope, started });
        assert!(index <= u32::MAX as usize, "more than 2^32 operations in flight");
        (u64::from(generation) << 32) | index as u64
    }

    pub fn get_mut(&mut self, user_data: u64) -> Option<&mut Slot> {
        let slot = self.slots.get_mut((user_data & 0xffff_ffff) as usize)?;
        (slot.generation == (user_data >> 32) as u32).then_some(slot)
    }

    pub fn remove(&mut self, user_data: u64) -> Option<Slot> {
        self.get_mut(user_data)?;
        Some(self.slots.remove((user_data & 0xffff_ffff) as usize))
    }

    /// The user data of every op whose result has not arrived.
    pub fn pending(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, slot)| slot.result.is_none())
            .map(|(index, slot)| (u64::from(slot.generation) << 32) | index as u64)
            .collect()
    }
}
