//! Phone numbers: digits only, shown as `+digits` (R2).

/// A normalised phone number: at least one ASCII digit and nothing else.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct Phone(String);

impl Phone {
    /// Keeps the digits of `text`; `None` when there are none.
    /// `+7 (499) 372-06-92` and `74993720692` are the same number.
    pub fn normalize(text: &str) -> Option<Phone> {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(Phone(digits))
    }

    /// The digits, as stored.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `+digits`, as shown to people.
    pub fn display(&self) -> String {
        format!("+{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Phone;

    #[test]
    fn normalizes_to_digits() {
        let check = |input: &str, expect: Option<&str>| {
            assert_eq!(
                Phone::normalize(input).as_ref().map(Phone::digits),
                expect,
                "{input:?}"
            );
        };
        check("74993720692", Some("74993720692"));
        check("+7 (499) 372-06-92", Some("74993720692"));
        check("", None);
        check("anonymous", None);
        assert_eq!(Phone::normalize("7499").unwrap().display(), "+7499");
    }
}
