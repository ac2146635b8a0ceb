//! The log's IO calls and their failpoints. Every IO call rio-log makes goes through `call`
//! (or, for the writer's ring ops, checks its failpoint where the op is submitted), under a
//! failpoint name of its own, so a test can fail any one of them: `set("log::segment_sync",
//! "1*return(5)")` fails the next such call with EIO (`return` without an errno: EIO too). The
//! error says what the log was doing, and keeps the OS error ([`crate::os_error`]).
//!
//! Failpoints are process-wide and evaluated in every build: an unset one costs a read lock and
//! a map lookup per call, nothing next to the call. The log never sets one itself.
//!
//! | failpoint | IO call | when | a failure there |
//! |---|---|---|---|
//! | `log::create_dir` | create the directory (and parents) | open | open fails |
//! | `log::lock_open` | open (create) `LOCK` | open | open fails |
//! | `log::lock_flock` | `flock(LOCK_EX \| LOCK_NB)` on `LOCK` | open | open fails |
//! | `log::lock_holder` | read `LOCK` for the holder's pid | open, when another writer holds it | the refusal names no pid |
//! | `log::lock_truncate` | empty `LOCK` | open | open fails |
//! | `log::lock_write` | write this pid to `LOCK` | open | open fails |
//! | `log::list` | list the directory | open | open fails |
//! | `log::tmp_remove` | remove a `.log.tmp` an interrupted roll left | open | open fails |
//! | `log::read_open` | open a segment to read it | open (recovery), `read` | open or the read fails |
//! | `log::read_stat` | a segment's size | open (recovery) | open fails |
//! | `log::read` | read a segment's bytes | open (recovery), `read` | open or the read fails |
//! | `log::cut_open` | open a segment to cut it | open (a torn tail), after a failed batch | open fails; the log stops (see below) |
//! | `log::cut_truncate` | `ftruncate` at the cut | as `log::cut_open` | as `log::cut_open` |
//! | `log::cut_fallocate` | preallocate again past the cut | as `log::cut_open` | as `log::cut_open` |
//! | `log::cut_sync` | `fsync` the cut segment | as `log::cut_open` | as `log::cut_open` |
//! | `log::segment_remove` | unlink a segment | open (segments past a cut), `truncate`, after a failed batch | open or `truncate` fails; the log stops |
//! | `log::segment_create` | create a segment's `.log.tmp` | open (a new log), a roll | open fails; the roll's appends fail |
//! | `log::segment_zero` | write a new segment's zeros | as `log::segment_create` | as `log::segment_create` |
//! | `log::segment_header` | write a new segment's header | as `log::segment_create` | as `log::segment_create` |
//! | `log::segment_sync` | `fsync` a new segment's zeros | as `log::segment_create` | as `log::segment_create` |
//! | `log::segment_header_sync` | `fsync` a new segment's header (a spare's too) | as `log::segment_create` | as `log::segment_create` |
//! | `log::segment_tmp_cleanup` | unlink the `.log.tmp` of a segment (or spare) that could not be made, or of a spare the closing log did not use | after a call above fails; at close | the `.log.tmp` stays until the next open |
//! | `log::spare_create` | create the spare (the next segment's zeros, made on a thread of its own once the active segment is half full) | append | none: the roll makes its segment itself |
//! | `log::spare_zero` | write the spare's zeros | as `log::spare_create` | as `log::spare_create` |
//! | `log::spare_sync` | `fsync` the spare | as `log::spare_create` | as `log::spare_create` |
//! | `log::segment_rename` | rename `.log.tmp` to `.log` | as `log::segment_create` | as `log::segment_create` |
//! | `log::dir_open` | open the directory to sync it | after a segment is made or removed | as the call that made or removed it |
//! | `log::dir_sync` | `fsync` the directory | as `log::dir_open` | as `log::dir_open` |
//! | `log::segment_open` | open a segment for the writer | open, a roll | open fails; the roll's appends fail |
//! | `log::direct_probe` | open the active segment with O_DIRECT, to see if its file system takes it | open, with `direct` | EINVAL (refused): buffered writes with `direct_fallback`, else open fails; any other error: open fails |
//! | `log::eventfd` | the writer's wake-up eventfd | open | open fails |
//! | `log::ring_start` | the writer's ring | open | open fails |
//! | `log::write` | a batch's write (a ring op) | append | the batch's appends (and later ones) fail |
//! | `log::fdatasync` | a batch's fdatasync, linked to its write | append | as `log::write`; the write itself went out |
//! | `log::short_write` | not a failure: cuts a batch's write short (`return(7)`: 7 bytes) | append | the rest is written, linked to the sync |
//!
//! After a failed batch the log cuts off what the batch may have left and drops later segments
//! before it goes on; if that fails, the log stops and refuses appends until it is reopened.

use std::io;

use crate::Doing;

/// Every failpoint of the log, as in the table above.
pub const NAMES: &[&str] = &[
    "log::create_dir",
    "log::lock_open",
    "log::lock_flock",
    "log::lock_holder",
    "log::lock_truncate",
    "log::lock_write",
    "log::list",
    "log::tmp_remove",
    "log::read_open",
    "log::read_stat",
    "log::read",
    "log::cut_open",
    "log::cut_truncate",
    "log::cut_fallocate",
    "log::cut_sync",
    "log::segment_remove",
    "log::segment_create",
    "log::segment_zero",
    "log::segment_header",
    "log::segment_sync",
    "log::segment_header_sync",
    "log::segment_tmp_cleanup",
    "log::spare_create",
    "log::spare_zero",
    "log::spare_sync",
    "log::segment_rename",
    "log::dir_open",
    "log::dir_sync",
    "log::segment_open",
    "log::direct_probe",
    "log::eventfd",
    "log::ring_start",
    "log::write",
    "log::fdatasync",
    "log::short_write",
];

/// Sets failpoint `name` (one of [`NAMES`]) to `actions`, in the `fail` crate's syntax
/// (`"return(5)"`, `"1*return(28)"`, `"3*off->return"`), or clears it if `actions` is empty.
/// Fails for a name the log does not have, or actions that do not parse.
pub fn set(name: &str, actions: &str) -> io::Result<()> {
    if !NAMES.contains(&name) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("rio-log has no failpoint {name:?}; it has {}", NAMES.join(", "))));
    }
    if actions.is_empty() {
        fail::remove(name);
        return Ok(());
    }
    fail::cfg(name, actions).map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, format!("failpoint {name}: {error}")))
}

/// Fails with the errno failpoint `name` was set to return (EIO by default), if it was set.
pub(crate) fn check(name: &str) -> io::Result<()> {
    match fail::eval(name, |errno| errno.and_then(|errno| errno.parse::<i32>().ok()).unwrap_or(libc::EIO)) {
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(()),
    }
}

/// Makes one IO call of the log: failpoint `name` first, then `io`. An error says what was being
/// done (`doing()`), and keeps the OS error.
pub(crate) fn call<T>(name: &str, io: impl FnOnce() -> io::Result<T>, doing: impl FnOnce() -> String) -> io::Result<T> {
    check(name).and_then(|()| io()).map_err(|error| Doing::wrap(doing(), error))
}

#[cfg(test)]
mod tests {
    use super::NAMES;

    /// Each name in the list is checked at exactly one place in the source, and no other is.
    #[test]
    fn every_failpoint_is_listed_and_has_one_call_site() {
        let sources = [include_str!("lib.rs"), include_str!("segment.rs"), include_str!("writer.rs")];
        let mut used: Vec<&str> = Vec::new();
        for source in sources {
            for (at, _) in source.match_indices("\"log::") {
                let name = &source[at + 1..];
                used.push(&name[..name.find('"').expect("a closing quote")]);
            }
        }
        used.sort();
        let mut listed = NAMES.to_vec();
        listed.sort();
        assert_eq!(used, listed, "the failpoints used (once each) are the ones listed");
    }
}
