//! `Scope`: where ops may borrow buffers. `Rio::scope` waits for every op started in the scope
//! before it returns, whether their completions were awaited, dropped or leaked with
//! `mem::forget`, and also while a panic unwinds out of the closure. That wait, not a destructor
//! the caller could skip, is what keeps a borrowed buffer alive for as long as the kernel uses it.

use std::marker::PhantomData;

use crate::ring::{Inner, Rio};

/// A region in which ops may borrow memory that outlives it. Made by [`Rio::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pub(crate) ring: &'scope Inner,
    pub(crate) id: usize,
    // Invariant in both lifetimes, as in `std::thread::Scope`: a scope cannot be passed off as
    // one that ends earlier or later than it does.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Ends the scope (waits for its ops) on the way out of `Rio::scope`, unwinding or not.
struct EndScope<'a> {
    ring: &'a Inner,
    id: usize,
}

impl Drop for EndScope<'_> {
    fn drop(&mut self) {
        self.ring.close_scope(self.id);
    }
}

impl Rio {
    /// Runs `f` with a [`Scope`] whose ops may borrow buffers (`&mut [u8]` to read into, `&[u8]` to
    /// write from) that outlive the scope. Returns only when every op started in it has completed.
    ///
    /// ```no_run
    /// use rio::Ops;
    /// let ring = rio::new()?;
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let mut head = [0u8; 64];
    /// let read = ring.scope(|s| s.read_at(&file, &mut head[..], 0).wait().0)?;
    /// println!("{:?}", &head[..read]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let ring: &Inner = &self.inner;
        let id = ring.open_scope();
        let _end = EndScope { ring, id };
        let scope = Scope { ring, id, scope: PhantomData, env: PhantomData };
        f(&scope)
    }
}
