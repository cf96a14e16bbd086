//! Reply topics: each specialty has a controlled list (kept by admins) and a reply may carry only
//! active topics of its case's specialty, named by slug. Commissioners see the list's labels, so
//! nothing a consultant types reaches a report; a free-text "other" note stays with the case.

/// Most topics one reply may carry.
pub const MAX_TOPICS: usize = 10;
pub const MAX_LABEL_CHARS: usize = 60;
/// The free-text "other" note of a reply (never in reports).
pub const MAX_OTHER_CHARS: usize = 200;
/// A label may hold a few digits ("Type 2 diabetes", "COVID-19"), never an NHS number or a year.
const MAX_LABEL_DIGITS: usize = 3;

/// One topic of a specialty's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Stable id: what replies and the API send; never changes, even when the label does.
    pub slug: String,
    pub label: String,
    pub retired: bool,
}

/// Why a reply's topics were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    TooMany,
    /// Not an active topic of the list (free text, another specialty's, retired or made up).
    Unknown(String),
}

/// The topics a reply names → the list's active topics, in the order given; blanks and repeats
/// are dropped. Anything not on the active list refuses the whole set.
pub fn choose<'a>(list: &'a [Topic], given: &[String]) -> Result<Vec<&'a Topic>, TopicError> {
    let mut chosen: Vec<&Topic> = Vec::new();
    for raw in given {
        let id = raw.trim();
        if id.is_empty() {
            continue;
        }
        let Some(topic) = list.iter().find(|t| !t.retired && t.slug == id) else {
            return Err(TopicError::Unknown(id.to_string()));
        };
        if !chosen.iter().any(|t| t.slug == topic.slug) {
            chosen.push(topic);
        }
    }
    if chosen.len() > MAX_TOPICS {
        return Err(TopicError::TooMany);
    }
    Ok(chosen)
}

/// An admin's label, tidied (trimmed, inner spaces collapsed), or why it is refused: at most 60
/// characters of letters, digits, spaces and - ' / & ( ) , . with at most 3 digits, so a label
/// cannot be an NHS number or hold a year of birth.
pub fn check_label(raw: &str) -> Result<String, String> {
    let label = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if label.is_empty() {
        return Err("Enter the topic's name.".into());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!(
            "A topic's name is at most {MAX_LABEL_CHARS} characters."
        ));
    }
    let allowed = |c: char| {
        c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'' | '/' | '&' | '(' | ')' | ',' | '.')
    };
    if !label.chars().all(allowed)
        || label.chars().filter(char::is_ascii_digit).count() > MAX_LABEL_DIGITS
        || !label.chars().any(char::is_alphabetic)
    {
        return Err(format!(
            "'{label}' is not a topic name: use a few words such as 'Acne' or 'Type 2 diabetes', with no patient details."
        ));
    }
    Ok(label)
}

/// The slug of a new topic from its label: lower-case ASCII letters and digits joined by '-'.
pub fn slug_for(label: &str) -> String {
    let mut slug = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

/// The free-text "other" note of a reply, trimmed; `None` when empty; an error when too long.
pub fn check_other(raw: &str) -> Result<Option<String>, String> {
    let note = raw.trim();
    if note.chars().count() > MAX_OTHER_CHARS {
        return Err(format!(
            "The other topic must be at most {MAX_OTHER_CHARS} characters."
        ));
    }
    Ok((!note.is_empty()).then(|| note.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Vec<Topic> {
        let t = |slug: &str, label: &str, retired| Topic {
            slug: slug.into(),
            label: label.into(),
            retired,
        };
        vec![
            t("acne", "Acne", false),
            t("eczema", "Eczema", false),
            t("old", "Old topic", true),
        ]
    }

    fn given(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_active_topics_of_the_list_are_chosen() {
        let l = list();
        let chosen = choose(&l, &given(&[" eczema", "acne", "eczema", ""])).unwrap();
        let slugs: Vec<&str> = chosen.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, ["eczema", "acne"]);
        for refused in ["jane doe 1980", "Acne", "old", "chest-pain", "9434765919"] {
            assert_eq!(
                choose(&l, &given(&["acne", refused])),
                Err(TopicError::Unknown(refused.to_string())),
                "{refused}"
            );
        }
        assert!(choose(&l, &[]).unwrap().is_empty());
    }

    #[test]
    fn at_most_ten_topics() {
        let many: Vec<Topic> = (0..11)
            .map(|i| Topic {
                slug: format!("t{i}"),
                label: format!("T{i}"),
                retired: false,
            })
            .collect();
        let all: Vec<String> = many.iter().map(|t| t.slug.clone()).collect();
        assert_eq!(choose(&many, &all), Err(TopicError::TooMany));
        assert_eq!(choose(&many, &all[..10]).unwrap().len(), 10);
    }

    #[test]
    fn labels_are_tidied_and_never_patient_details() {
        assert_eq!(
            check_label("  Type  2 diabetes ").unwrap(),
            "Type 2 diabetes"
        );
        assert_eq!(
            check_label("Benign lesion / mole").unwrap(),
            "Benign lesion / mole"
        );
        for bad in [
            "",
            "943 476 5919",
            "jane doe 1980",
            "seen 1984-03-27",
            "<script>",
            "1234",
            &"x".repeat(61),
        ] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(slug_for("Benign lesion / mole"), "benign-lesion-mole");
        assert_eq!(slug_for("Type 2 diabetes"), "type-2-diabetes");
        assert_eq!(slug_for("  Hair & nail  "), "hair-nail");
    }

    #[test]
    fn the_other_note_is_optional_and_bounded() {
        assert_eq!(check_other("  "), Ok(None));
        assert_eq!(
            check_other(" rare genodermatosis "),
            Ok(Some("rare genodermatosis".into()))
        );
        assert!(check_other(&"x".repeat(201)).is_err());
    }
}
