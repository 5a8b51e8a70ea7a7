//! Go's `strconv.Atoi`, which CoreDNS uses for the numbers in a Corefile, with its error text.

/// Parses a decimal integer as Go's `strconv.Atoi` does (optional sign, digits only).
pub fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_texts() {
        assert_eq!(atoi("30"), Ok(30));
        assert_eq!(atoi("+7"), Ok(7));
        assert_eq!(atoi("-1"), Ok(-1));
        assert_eq!(
            atoi("x").expect_err("x"),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            atoi("").expect_err("empty"),
            "strconv.Atoi: parsing \"\": invalid syntax"
        );
        assert_eq!(
            atoi("99999999999999999999").expect_err("big"),
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
    }
}
