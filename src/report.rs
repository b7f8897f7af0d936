//! Problems found while loading configuration or profiles, reported all at once.

use std::fmt;

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The file (or embedded profile) the problem is in.
    pub file: String,
    /// 1-based line and column, when the problem has a place in the text.
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl Issue {
    pub fn at(
        file: &str,
        text: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line: span.map(|s| line_col(text, s.start)),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Every problem found; empty means all is well.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub issues: Vec<Issue>,
}

impl Report {
    pub fn push(&mut self, issue: Issue) {
        self.issues.push(issue);
    }
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }
    pub fn extend(&mut self, other: Report) {
        self.issues.extend(other.issues);
    }
    /// `Ok(value)` when nothing was found, else the report.
    pub fn into_result<T>(self, value: T) -> Result<T, Report> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in &self.issues {
            writeln!(f, "error: {issue}")?;
        }
        write!(
            f,
            "{} problem{} found",
            self.issues.len(),
            if self.issues.len() == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Report {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_and_column() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 11), (2, 6));
    }
}
