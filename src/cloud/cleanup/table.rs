//! Plain-text tables for the cleanup plan and report: columns padded to their widest
//! cell, the last column left unpadded, trailing blanks trimmed. Nothing else.

use std::fmt::Write as _;

/// `header` and `rows` (each as long as `header`) as aligned lines, header first.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 == header.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_and_the_last_is_not_padded() {
        let t = super::render(
            &["A", "LONG", "LAST"],
            &[
                vec!["xyz".into(), "1".into(), "end".into()],
                vec!["".into(), "".into(), "".into()],
            ],
        );
        assert_eq!(t, "A    LONG  LAST\nxyz  1     end\n\n");
    }
}
