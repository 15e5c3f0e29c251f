//! ANSI colour, only when the host says the output wants it.

/// Bold.
pub const BOLD: &str = "1";
/// Red (errors, 4xx/5xx).
pub const RED: &str = "31";
/// Green (2xx).
pub const GREEN: &str = "32";
/// Yellow (3xx).
pub const YELLOW: &str = "33";
/// Cyan (numbers).
pub const CYAN: &str = "36";
/// Gray (labels).
pub const GRAY: &str = "90";

/// Whether to colour; `Paint(false)` passes text through.
#[derive(Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    /// `text` in the SGR style `code` (e.g. [`RED`]), or as is.
    pub fn on(self, code: &str, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 9);
        self.push(&mut out, code, text);
        out
    }

    /// Appends `text` in the SGR style `code` to `out`, or as is.
    pub fn push(self, out: &mut String, code: &str, text: &str) {
        if self.0 && !text.is_empty() {
            out.push_str("\x1b[");
            out.push_str(code);
            out.push('m');
            out.push_str(text);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(text);
        }
    }
}

/// Appends `n` spaces.
pub fn spaces(out: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                                ";
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}
