//! The error type of rule parsing.

use core::fmt;

/// Why a ruleset could not be loaded, and where: like `iptables-restore`'s
/// "Error occurred at line: N", with the column of the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    /// 1-based line in the text given to [`super::Ruleset::parse`].
    pub line: usize,
    /// 1-based column (in characters) of the token the error is about.
    pub column: usize,
    pub message: String,
}

impl RulesError {
    pub fn new(line: usize, column: usize, message: impl Into<String>) -> RulesError {
        RulesError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for RulesError {}

/// An error without a position yet: the parser of a line attaches line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Index of the token the problem is about (the caller maps it to a column).
    pub token: usize,
    pub message: String,
}

impl Problem {
    pub fn at(token: usize, message: impl Into<String>) -> Problem {
        Problem {
            token,
            message: message.into(),
        }
    }
}

/// Shorthand for results inside the line parser.
pub(crate) type PResult<T> = Result<T, Problem>;
