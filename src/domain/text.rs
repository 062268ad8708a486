//! Free text that comes from a phone: a message body.

use std::borrow::Cow;

/// A text's body as it is relayed and stored: without NUL and the other control characters,
/// which no phone shows and which a database may refuse (PostgreSQL stores no NUL, and such a
/// row would fail the whole batch it is written with). Line breaks are kept, as `\n` (`\r\n`
/// and a lone `\r` become `\n`), and so are tabs. What has nothing to remove is not copied.
pub fn message_body(raw: &str) -> Cow<'_, str> {
    let removed = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !raw.chars().any(removed) {
        return Cow::Borrowed(raw);
    }
    let mut clean = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    clean.push('\n');
                }
            }
            c if removed(c) => {}
            c => clean.push(c),
        }
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_go_and_line_breaks_stay() {
        for (raw, clean) in [
            ("Je suis en bas", "Je suis en bas"),
            ("code\u{0}1234", "code1234"),
            ("\u{0}\u{0}", ""),
            ("ligne 1\nligne 2", "ligne 1\nligne 2"),
            ("ligne 1\r\nligne 2", "ligne 1\nligne 2"),
            ("ligne 1\rligne 2", "ligne 1\nligne 2"),
            ("a\tb", "a\tb"),
            // Escape (terminal sequences), bell, delete, and C1 controls.
            ("\u{1b}[31mrouge\u{7}\u{7f}", "[31mrouge"),
            ("x\u{85}y\u{9f}z", "xyz"),
            // Not control characters: accents, emoji, a zero-width joiner.
            ("Colis livré 📦 👩\u{200d}💻", "Colis livré 📦 👩\u{200d}💻"),
        ] {
            assert_eq!(message_body(raw), clean, "{raw:?}");
        }
    }

    #[test]
    fn a_clean_body_is_not_copied() {
        assert!(matches!(message_body("allo\nici"), Cow::Borrowed(_)));
        assert!(matches!(message_body("allo\r\n"), Cow::Owned(_)));
    }
}
