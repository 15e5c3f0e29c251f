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
        if self.0 && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
