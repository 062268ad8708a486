//! The activation form: what it posts, how that is parsed into domain types, and the page
//! that shows it — empty, or again with each field's error next to it and the values kept.

use askama::Template;

use super::frame::{Frame, words};
use crate::domain::{ClientName, CountryIso, E164, Email, PhoneError};
use crate::messages::{Language, PageWords};

/// The countries the form offers for the proxy number, France first (the default).
pub const COUNTRIES: [&str; 9] = ["FR", "BE", "CH", "LU", "DE", "ES", "IT", "PT", "GB"];

/// The form as posted: every field as text, missing ones empty.
#[derive(Debug, Default, utoipa::ToSchema)]
#[schema(as = ActivateForm)]
pub struct RawForm {
    /// 1 to 120 characters.
    pub client_name: String,
    pub client_mail: String,
    /// E.164; spaces, dots, dashes and parentheses are ignored.
    pub client_real_phone: String,
    /// The country of the proxy number: FR, BE, CH, LU, DE, ES, IT, PT or GB.
    pub country_iso: String,
    /// The value of the form's hidden field, equal to the `pc_csrf` cookie's.
    pub csrf_token: String,
}

impl RawForm {
    /// An `application/x-www-form-urlencoded` body; unknown fields are ignored, a repeated
    /// one keeps its last value.
    pub fn from_body(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "client_name" => &mut form.client_name,
                "client_mail" => &mut form.client_mail,
                "client_real_phone" => &mut form.client_real_phone,
                "country_iso" => &mut form.country_iso,
                "csrf_token" => &mut form.csrf_token,
                _ => continue,
            };
            *slot = value.into_owned();
        }
        form
    }
}

/// The form's fields, parsed.
pub struct Valid {
    pub name: ClientName,
    pub mail: Email,
    pub phone: E164,
    pub country: CountryIso,
}

/// What is wrong with each field, worded for the page.
#[derive(Debug, Default)]
pub struct FieldErrors {
    pub name: Option<String>,
    pub mail: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
}

impl FieldErrors {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.mail.is_none() && self.phone.is_none() && self.country.is_none()
    }

    /// `AppError::Invalid`'s field name, from the API, to the form's field.
    pub fn for_field(field: &str, w: &PageWords) -> Self {
        let mut errors = Self::default();
        match field {
            "client_name" => errors.name = Some(w.error_name_invalid.clone()),
            "client_mail" => errors.mail = Some(w.error_mail_invalid.clone()),
            "client_real_phone" => errors.phone = Some(w.error_phone_refused.clone()),
            _ => errors.country = Some(w.error_country.clone()),
        }
        errors
    }
}

pub fn parse(form: &RawForm, w: &PageWords) -> Result<Valid, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = if form.client_name.trim().is_empty() {
        errors.name = Some(w.error_name_empty.clone());
        None
    } else {
        ClientName::parse(&form.client_name)
            .map_err(|_| errors.name = Some(w.error_name_invalid.clone()))
            .ok()
    };
    let mail = if form.client_mail.trim().is_empty() {
        errors.mail = Some(w.error_mail_empty.clone());
        None
    } else {
        Email::parse(&form.client_mail)
            .map_err(|_| errors.mail = Some(w.error_mail_invalid.clone()))
            .ok()
    };
    // People write numbers with spaces, dots or dashes; E.164 has none of them.
    let phone: String = form
        .client_real_phone
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '.' | '-' | '(' | ')')))
        .collect();
    let phone = E164::parse(&phone)
        .map_err(|e| {
            errors.phone = Some(
                match e {
                    PhoneError::Empty => &w.error_phone_empty,
                    PhoneError::Format => &w.error_phone_format,
                    PhoneError::Invalid => &w.error_phone_invalid,
                }
                .clone(),
            )
        })
        .ok();
    let country = COUNTRIES
        .contains(&form.country_iso.as_str())
        .then(|| CountryIso::parse(&form.country_iso).ok())
        .flatten();
    if country.is_none() {
        errors.country = Some(w.error_country.clone());
    }
    match (name, mail, phone, country) {
        (Some(name), Some(mail), Some(phone), Some(country)) if errors.is_empty() => Ok(Valid {
            name,
            mail,
            phone,
            country,
        }),
        _ => Err(errors),
    }
}

pub struct Field {
    pub id: &'static str,
    pub label: &'static str,
    pub hint: Option<&'static str>,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub max_length: usize,
    pub value: String,
    pub error: Option<String>,
}

impl Field {
    /// The ids of the texts that describe the field: its hint, its error.
    pub fn described_by(&self) -> Option<String> {
        let ids: Vec<String> = [
            self.hint.map(|_| format!("{}-hint", self.id)),
            self.error.as_ref().map(|_| format!("{}-error", self.id)),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!ids.is_empty()).then(|| ids.join(" "))
    }
}

pub struct SummaryItem {
    pub text: String,
    /// The field it is about, to jump to it.
    pub anchor: Option<&'static str>,
}

pub struct CountryOption {
    pub code: &'static str,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub struct FormPage {
    pub frame: Frame,
    pub summary_title: String,
    pub summary: Vec<SummaryItem>,
    pub action: String,
    pub csrf_token: String,
    pub fields: Vec<Field>,
    pub country_error: Option<String>,
    pub countries: Vec<CountryOption>,
}

impl FormPage {
    /// The form with `values`, each field's error next to it, and at the top a summary of the
    /// field errors after `general` (what is wrong with the request as a whole).
    pub fn new(
        language: Language,
        csrf_token: String,
        values: &RawForm,
        errors: FieldErrors,
        general: Option<String>,
    ) -> Self {
        let w = words(language);
        let field_errors = [
            ("client_name", &errors.name),
            ("client_mail", &errors.mail),
            ("client_real_phone", &errors.phone),
            ("country_iso", &errors.country),
        ];
        let summary: Vec<SummaryItem> = general
            .map(|text| SummaryItem { text, anchor: None })
            .into_iter()
            .chain(field_errors.into_iter().filter_map(|(id, e)| {
                e.as_ref().map(|text| SummaryItem {
                    text: text.clone(),
                    anchor: Some(id),
                })
            }))
            .collect();
        let title = if summary.is_empty() {
            w.form_title.clone()
        } else {
            format!("{} – {}", w.error_title, w.form_title)
        };
        let selected = if COUNTRIES.contains(&values.country_iso.as_str()) {
            values.country_iso.as_str()
        } else {
            COUNTRIES[0]
        };
        Self {
            frame: Frame::new(language, title).switch_to("/activate"),
            summary_title: w
                .errors_summary
                .replace("{count}", &summary.len().to_string()),
            summary,
            action: format!("/activate?lang={}", language.as_str()),
            csrf_token,
            fields: vec![
                Field {
                    id: "client_name",
                    label: &w.label_name,
                    hint: None,
                    input_type: "text",
                    autocomplete: "name",
                    max_length: 120,
                    value: values.client_name.clone(),
                    error: errors.name,
                },
                Field {
                    id: "client_mail",
                    label: &w.label_mail,
                    hint: None,
                    input_type: "email",
                    autocomplete: "email",
                    max_length: 254,
                    value: values.client_mail.clone(),
                    error: errors.mail,
                },
                Field {
                    id: "client_real_phone",
                    label: &w.label_phone,
                    hint: Some(&w.hint_phone),
                    input_type: "tel",
                    autocomplete: "tel",
                    max_length: 32,
                    value: values.client_real_phone.clone(),
                    error: errors.phone,
                },
            ],
            country_error: errors.country,
            countries: COUNTRIES
                .iter()
                .map(|&code| CountryOption {
                    code,
                    name: w
                        .countries
                        .get(code)
                        .cloned()
                        .unwrap_or_else(|| code.into()),
                    selected: code == selected,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Catalogue;

    fn form(name: &str, mail: &str, phone: &str, country: &str) -> RawForm {
        RawForm {
            client_name: name.into(),
            client_mail: mail.into(),
            client_real_phone: phone.into(),
            country_iso: country.into(),
            csrf_token: String::new(),
        }
    }

    #[test]
    fn every_field_is_parsed_into_its_domain_type() {
        let w = &Catalogue::get(Language::Fr).page;
        let valid = parse(
            &form(
                " Jeanne Martin ",
                "Jeanne@Example.fr",
                "+33 6 12-34.56 78",
                "PT",
            ),
            w,
        )
        .unwrap();
        assert_eq!(valid.name.as_str(), "Jeanne Martin");
        assert_eq!(valid.mail.as_str(), "jeanne@example.fr");
        assert_eq!(valid.phone.as_str(), "+33612345678");
        assert_eq!(valid.country.as_str(), "PT");
    }

    #[test]
    fn each_bad_field_gets_its_own_error() {
        let w = &Catalogue::get(Language::Fr).page;
        let errors = parse(&form("", "jeanne@", "06 12 34 56 78", "XX"), w)
            .err()
            .unwrap();
        assert_eq!(errors.name.as_deref(), Some(w.error_name_empty.as_str()));
        assert_eq!(errors.mail.as_deref(), Some(w.error_mail_invalid.as_str()));
        assert_eq!(errors.phone.as_deref(), Some(w.error_phone_format.as_str()));
        assert_eq!(errors.country.as_deref(), Some(w.error_country.as_str()));
        let errors = parse(&form("Jeanne", "jeanne@example.fr", "+35112", "FR"), w)
            .err()
            .unwrap();
        assert_eq!(errors.phone.as_deref(), Some(w.error_phone_format.as_str()));
        assert!(errors.name.is_none() && errors.mail.is_none() && errors.country.is_none());
    }

    #[test]
    fn every_catalogue_names_every_country_offered() {
        for language in [Language::Fr, Language::En] {
            let w = &Catalogue::get(language).page;
            for code in COUNTRIES {
                assert!(w.countries.contains_key(code), "{language:?} {code}");
                assert!(CountryIso::parse(code).is_ok(), "{code}");
            }
        }
    }

    #[test]
    fn the_form_keeps_the_values_and_says_what_is_wrong_next_to_each_field() {
        let values = form("Jeanne <b>", "jeanne@", "+33612345678", "FR");
        let errors = parse(&values, &Catalogue::get(Language::En).page)
            .err()
            .unwrap();
        let page = FormPage::new(Language::En, "t".repeat(64), &values, errors, None)
            .render()
            .unwrap();
        assert!(page.contains("<html lang=\"en\">"), "{page}");
        assert!(page.contains("value=\"Jeanne &#60;b&#62;\""), "{page}");
        assert!(
            page.contains("aria-describedby=\"client_mail-error\" aria-invalid=\"true\""),
            "{page}"
        );
        assert!(page.contains("<a href=\"#client_mail\">"), "{page}");
        assert!(
            !page.contains("style=") && !page.contains("<script"),
            "{page}"
        );
    }
}
