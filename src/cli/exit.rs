//! The process's exit codes, in one place. Only the CLI maps outcomes to them: library code
//! below it returns typed errors and verdicts, never a code.

/// A threshold (or an SLO at the start rate) failed.
pub const EXIT_THRESHOLDS: u8 = 1;
/// Bad usage or a bad config: every problem was printed, nothing was started.
pub const EXIT_USAGE: u8 = 2;
/// The command could not run (a port taken, a file not writable, the generator the limit).
pub const EXIT_RUNTIME: u8 = 3;
