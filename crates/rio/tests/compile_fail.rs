//! Misuse that must not compile (trybuild): each file in `tests/ui/` breaks one rule the ring's
//! soundness rests on, and its `.stderr` holds the compiler's refusal. `tests/ui/pass/` holds the
//! correct uses next to them, so a failure is the rule's doing and not a broken setup.
//!
//! The messages are rustc's: a new toolchain may word them differently. Regenerate with
//! `TRYBUILD=overwrite cargo test -p rio --test compile_fail` and check each still says what the
//! file's comment expects.

#[test]
fn misuse_of_buffers_files_and_scopes_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/*.rs");
}
