//! The characters XML 1.0 can carry (section 2.2), the one rule every layer
//! that lets text through shares: the loader refuses the others in content
//! files, TOML escapes and Markdown character references, since no feed could
//! ever hold them.

/// True for the characters XML 1.0 allows and does not discourage as
/// controls: not the C0 controls but tab, line feed and carriage return, not
/// the C1 controls, not U+FFFE and U+FFFF.
pub(crate) fn is_xml_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::is_xml_char;

    #[test]
    fn controls_are_refused_and_text_is_not() {
        for c in ['\u{0}', '\u{8}', '\u{1f}', '\u{7f}', '\u{85}', '\u{fffe}'] {
            assert!(!is_xml_char(c), "{c:?}");
        }
        for c in ['\t', '\n', '\r', 'a', '中', '🎉', '\u{200f}', '\u{a0}'] {
            assert!(is_xml_char(c), "{c:?}");
        }
    }
}
